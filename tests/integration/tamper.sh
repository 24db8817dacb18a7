#!/usr/bin/env bash
# tamper.sh - the tamper battery: damage a real log on disk, one way at a
# time, and demand that `sealtrail verify` fails (exit 1) and that its FAIL
# line names the place: the file, and the byte offset, seq, tile or
# checkpoint where that applies (shared/DESIGN.md, "Verification").
#
# One pristine log is built (small segments so there are several, more
# than 256 entries so tile level 1 exists, several checkpoints); every case
# copies it (cp -a), damages the copy with python3 (byte-exact edits), runs
# verify on the copy and checks the result. A second and third log (another
# origin; the same origin) supply foreign segments and an attacker's key.
#
# Environment (set by ctest): SEALTRAIL (the command), SEALTRAIL_SRC,
# SEALTRAIL_BUILD; TAMPER_KEEP=1 keeps the temp dir for inspection. Prints "ok - CASE" or "not ok - CASE: OUTPUT" per case,
# then "N passed, M failed"; exits 1 if anything failed.
set -euo pipefail

SEALTRAIL=${SEALTRAIL:-${SEALTRAIL_BUILD:-build}/sealtrail}
if [ ! -x "$SEALTRAIL" ]; then
	echo "tamper.sh: SEALTRAIL=$SEALTRAIL is not an executable" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "tamper.sh: needs python3" >&2; exit 2; }

T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-tamper.XXXXXX")
trap 'chmod -R u+w "$T" 2>/dev/null; rm -rf "$T"' EXIT
if [ -n "${TAMPER_KEEP:-}" ]; then trap - EXIT; echo "# keeping $T"; fi

ORIGIN=example.com/tamper
SEGSIZE=8192
PASSED=0
FAILED=0

# ---- the byte editor ---------------------------------------------------------
#
# tp.py CMD ARGS: every command edits a file in place and prints what the
# shell needs to check the verdict (usually the byte offset of the frame it
# touched). Frames: u32 length, u32 CRC-32C over (length bytes || data), data.
cat >"$T/tp.py" <<'PY'
import base64, hashlib, os, struct, sys

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value

def read(p):
    with open(p, "rb") as f:
        return bytearray(f.read())

def write(p, b):
    os.chmod(p, 0o644)
    with open(p, "wb") as f:
        f.write(b)

def hdr_size(b):
    return 38 + struct.unpack_from("<H", b, 36)[0] + 4

def frames(b, start):
    """[(offset, length)] of the whole frames from start to the end."""
    out, off = [], start
    while off + 8 <= len(b):
        (n,) = struct.unpack_from("<I", b, off)
        if off + 8 + n > len(b):
            break
        out.append((off, n))
        off += 8 + n
    return out

def seg_frames(b):
    return frames(b, hdr_size(b))

def frame_bytes(b, fr):
    return bytes(b[fr[0]:fr[0] + 8 + fr[1]])

def fix_crc(b, off):
    (n,) = struct.unpack_from("<I", b, off)
    struct.pack_into("<I", b, off + 4, crc32c(bytes(b[off:off + 4]) + bytes(b[off + 8:off + 8 + n])))

def main(a):
    cmd, path = a[0], a[1]
    b = read(path)
    if cmd == "nframes":
        print(len(seg_frames(b)))
        return
    if cmd == "flipentry":            # idx fixcrc(0|1): flip a letter of "action"
        i, fix = int(a[2]), a[3] == "1"
        off, n = seg_frames(b)[i]
        data = bytes(b[off + 8:off + 8 + n])
        k = data.index(b'"action":"') + len(b'"action":"')
        b[off + 8 + k] ^= 0x20         # a letter changes case: still valid JSON
        if fix:
            fix_crc(b, off)
        write(path, b)
        print(off)
    elif cmd == "fliplen":            # idx bytepos xor
        i, pos, x = int(a[2]), int(a[3]), int(a[4], 0)
        off, n = seg_frames(b)[i]
        b[off + pos] ^= x
        write(path, b)
        print(off)
    elif cmd == "flipcrc":            # idx: flip a bit of the stored CRC
        off, n = seg_frames(b)[int(a[2])]
        b[off + 5] ^= 0x10
        write(path, b)
        print(off)
    elif cmd == "flip":               # offset xor
        b[int(a[2])] ^= int(a[3], 0)
        write(path, b)
    elif cmd == "hdrorigin":          # fixcrc(0|1): change one origin byte
        fix = a[2] == "1"
        b[38] ^= 0x01
        if fix:
            hs = hdr_size(b)
            struct.pack_into("<I", b, hs - 4, crc32c(bytes(b[:hs - 4])))
        write(path, b)
    elif cmd == "delframe":           # idx
        fr = seg_frames(b)[int(a[2])]
        del b[fr[0]:fr[0] + 8 + fr[1]]
        write(path, b)
        print(fr[0])
    elif cmd == "dupframe":           # idx: a second copy right after it
        fr = seg_frames(b)[int(a[2])]
        end = fr[0] + 8 + fr[1]
        b[end:end] = frame_bytes(b, fr)
        write(path, b)
        print(end)
    elif cmd == "insertfrom":         # idx srcseg srcidx: before frame idx
        fr = seg_frames(b)[int(a[2])]
        src = read(a[3])
        b[fr[0]:fr[0]] = frame_bytes(src, seg_frames(src)[int(a[4])])
        write(path, b)
        print(fr[0])
    elif cmd == "swap":               # idx: swap frames idx and idx+1
        fs = seg_frames(b)
        f1, f2 = fs[int(a[2])], fs[int(a[2]) + 1]
        b[f1[0]:f2[0] + 8 + f2[1]] = frame_bytes(b, f2) + frame_bytes(b, f1)
        write(path, b)
        print(f1[0])
    elif cmd == "truncmid":           # idx: cut in the middle of frame idx
        off, n = seg_frames(b)[int(a[2])]
        write(path, b[:off + 8 + n // 2])
        print(off)
    elif cmd == "truncframes":        # k: drop the last k whole frames
        fs = seg_frames(b)
        write(path, b[:fs[-int(a[2])][0]])
        print(len(fs) - int(a[2]))
    elif cmd == "cpflip":             # k part(sig|body) fixcrc(0|1)
        k, part, fix = int(a[2]), a[3], a[4] == "1"
        off, n = frames(b, 0)[k]
        rec = off + 8 + 32            # after the chain hash: the note
        note = bytes(b[rec:off + 8 + n])
        if part == "body":
            # the base64 root, on the body's third line
            lines = note.split(b"\n")
            pos = len(lines[0]) + len(lines[1]) + 2 + 3
        else:
            # inside the base64 signature, 20 bytes before the end
            pos = len(note) - 20
        c = note[pos]
        b[rec + pos] = ord("B") if c != ord("B") else ord("C")
        if fix:
            fix_crc(b, off)
        write(path, b)
        print(off)
    else:
        sys.exit("tp.py: unknown command " + cmd)

main(sys.argv[1:])
PY
tp() { python3 "$T/tp.py" "$@"; }

# ---- helpers ---------------------------------------------------------------

seg_name() { printf 'segments/%020d.seg' "$1"; }
# First seqs of the segments, in order.
seg_firsts() {
	local f
	for f in "$1"/segments/*.seg; do
		f=${f##*/}
		echo $((10#${f%.seg}))
	done
}
nth_seg() { seg_firsts "$1" | sed -n "$(($2 + 1))p"; }   # 0-based
last_seg() { seg_firsts "$1" | tail -n 1; }

OUT=""
RC=0
# Runs verify; OUT gets stdout+stderr, RC the exit status.
run_verify() {
	RC=0
	OUT=$("$SEALTRAIL" verify --quiet "$@" 2>&1) || RC=$?
}
run_verify_loud() {
	RC=0
	OUT=$("$SEALTRAIL" verify "$@" 2>&1) || RC=$?
}

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
notok() {
	FAILED=$((FAILED + 1))
	echo "not ok - $1: $2" | tr '\n' ' '
	echo
}

# expect_fail CASE REGEX...: verify must have exited 1 and its FAIL line
# must match every extended regex given.
expect_fail() {
	local name=$1 re line
	shift
	if [ "$RC" -ne 1 ]; then
		notok "$name" "verify exited $RC, want 1; output: $OUT"
		return
	fi
	line=$(printf '%s\n' "$OUT" | grep '^FAIL: ' || true)
	if [ -z "$line" ]; then
		notok "$name" "no FAIL line; output: $OUT"
		return
	fi
	for re in "$@"; do
		if ! printf '%s\n' "$line" | grep -qE -- "$re"; then
			notok "$name" "FAIL line does not match /$re/: $line"
			return
		fi
	done
	ok "$name"
}

expect_pass() {
	local name=$1
	if [ "$RC" -ne 0 ] || ! printf '%s\n' "$OUT" | grep -q '^OK: '; then
		notok "$name" "verify exited $RC, want 0 and OK; output: $OUT"
		return
	fi
	ok "$name"
}

N_CASE=0
# fresh: a writable copy of the pristine log, in $FRESH (not run in a
# subshell: the case counter must advance).
FRESH=""
fresh() {
	N_CASE=$((N_CASE + 1))
	FRESH="$T/case-$N_CASE"
	cp -a "$T/pristine" "$FRESH"
	chmod -R u+w "$FRESH"
}

# ---- the logs ------------------------------------------------------------

# gen_events COUNT SEED: NDJSON with a mix of tenants, optional fields and
# escapes; deterministic.
gen_events() {
	python3 - "$1" "$2" <<'PY'
import json, random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)
tenants = ["acme", "globex", "initech"]
actions = ["user.login", "user.logout", "doc.read", "doc.write", "role.grant"]
for i in range(n):
    e = {"time": "2026-01-%02dT%02d:%02d:%02dZ" % (1 + i // 86400 % 28, i // 3600 % 24, i // 60 % 60, i % 60),
         "action": actions[rnd.randrange(len(actions))],
         "actor": {"id": "u%d" % rnd.randrange(50), "type": "user"},
         "resource": {"type": "document", "id": "d%d" % rnd.randrange(1000)}}
    if rnd.random() < 0.6:
        e["tenant"] = tenants[rnd.randrange(len(tenants))]
    if rnd.random() < 0.3:
        e["outcome"] = rnd.choice(["success", "failure", "denied"])
    if rnd.random() < 0.2:
        e["metadata"] = {"note": "caf\u00e9 \"quoted\" line %d" % i}
    print(json.dumps(e, ensure_ascii=rnd.random() < 0.5))
PY
}

must() {
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	if [ $rc -ne 0 ]; then
		echo "tamper.sh: setup step failed ($rc): $*" >&2
		echo "$out" >&2
		exit 2
	fi
}

gen_events 320 7 >"$T/events.ndjson"
P="$T/pristine"
VKEY=$("$SEALTRAIL" init --data "$P" --origin "$ORIGIN" --segment-size "$SEGSIZE" 2>/dev/null)
# Appends in five slices, with checkpoints between them; after the second
# slice the whole directory is saved (the "early" state for rollbacks).
for i in 0 1 2 3 4; do
	sed -n "$((i * 64 + 1)),$((i * 64 + 64))p" "$T/events.ndjson" >"$T/slice-$i"
	must "$SEALTRAIL" append --data "$P" --batch 16 "$T/slice-$i"
	must "$SEALTRAIL" checkpoint --data "$P"
	if [ $i -eq 1 ]; then
		cp -a "$P" "$T/early"
		cp "$P/checkpoint" "$T/early.cp"
	fi
	if [ $i -eq 3 ]; then
		must "$SEALTRAIL" checkpoint --data "$P" --force
	fi
done
cp "$P/checkpoint" "$T/late.cp"
NSEG=$(seg_firsts "$P" | wc -l)
NCP=$(python3 -c "
import struct,sys
b=open(sys.argv[1],'rb').read(); o=n=0
while o+8<=len(b): o+=8+struct.unpack_from('<I',b,o)[0]; n+=1
print(n)" "$P/checkpoints")
ENTRIES=320

run_verify_loud --data "$P"
if [ "$RC" -ne 0 ] || ! printf '%s\n' "$OUT" | grep -q "^OK: $ENTRIES entries"; then
	echo "tamper.sh: the pristine log does not verify: $OUT" >&2
	exit 1
fi
if [ "$NSEG" -lt 4 ] || [ "$NCP" -lt 5 ]; then
	echo "tamper.sh: pristine log too small: $NSEG segments, $NCP checkpoints" >&2
	exit 1
fi
echo "# pristine log: $ENTRIES entries, $NSEG segments, $NCP checkpoints"

# Another log (another origin), and one with the same origin but its own key.
OTHER="$T/other"
must "$SEALTRAIL" init --data "$OTHER" --origin example.com/elsewhere --segment-size "$SEGSIZE"
must "$SEALTRAIL" append --data "$OTHER" "$T/slice-0"
TWIN="$T/twin"
TWIN_VKEY=$("$SEALTRAIL" init --data "$TWIN" --origin "$ORIGIN" --segment-size "$SEGSIZE" 2>/dev/null)
must "$SEALTRAIL" append --data "$TWIN" "$T/slice-0"

# ---- the cases -------------------------------------------------------------

case_pristine_verifies() {
	run_verify --data "$P" --key "$VKEY" --trusted "$T/late.cp" --trusted "$T/early.cp"
	expect_pass "pristine log verifies with --key and --trusted (early and late checkpoints)"
}

case_flip_entry_sealed() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	off=$(tp flipentry "$d/$(seg_name "$first")" 3 0)
	run_verify --data "$d"
	expect_fail "flipped byte in an entry, sealed segment (CRC)" \
		"$(seg_name "$first"): byte $off: frame CRC mismatch"
}

case_flip_entry_last() {
	local d first off
	fresh; d=$FRESH; first=$(last_seg "$d")
	off=$(tp flipentry "$d/$(seg_name "$first")" 1 0)
	run_verify --data "$d"
	expect_fail "flipped byte in an entry, last segment (CRC)" \
		"$(seg_name "$first"): byte $off: frame CRC mismatch at seq $((first + 1)), followed by valid frames"
}

case_flip_entry_crc_fixed() {
	local d first seq
	fresh; d=$FRESH; first=$(nth_seg "$d" 2); seq=$((first + 4))
	tp flipentry "$d/$(seg_name "$first")" 4 1 >/dev/null
	run_verify --data "$d"
	expect_fail "flipped byte in an entry, attacker fixed the CRC (leaf vs tree)" \
		"tree/level-00: hash $seq \(tile/0/000 byte $((seq * 32))\)" \
		"leaves $seq\.\.$seq"
}

case_flip_entry_crc_fixed_last() {
	local d first seq n
	fresh; d=$FRESH; first=$(last_seg "$d")
	n=$(tp nframes "$d/$(seg_name "$first")")
	seq=$((first + n - 1))                      # the very last entry
	tp flipentry "$d/$(seg_name "$first")" $((n - 1)) 1 >/dev/null
	run_verify --data "$d"
	expect_fail "flipped byte in the last entry, CRC fixed (leaf vs tree)" \
		"tree/level-00: hash $seq \(tile/0/001 byte $(((seq - 256) * 32))\)"
}

case_flip_entry_crc_fixed_no_tree() {
	# The attacker also deletes the derived tree: the tenant chain (the
	# next entry of the same tenant) or the checkpoints still commit to
	# the entry.
	local d first n seq
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	tp flipentry "$d/$(seg_name "$first")" 2 1 >/dev/null
	rm -f "$d"/tree/level-*
	run_verify --data "$d"
	expect_fail "flipped byte in an entry, CRC fixed, tree deleted (tenant chain)" \
		"^FAIL: $(seg_name "$first"): byte [0-9]+: seq [0-9]+: tenant \"[a-z]+\" tprev is not the leaf hash of its previous entry"
	# The last entry has no successor in its chain: the checkpoint root.
	fresh; d=$FRESH; first=$(last_seg "$d")
	n=$(tp nframes "$d/$(seg_name "$first")")
	tp flipentry "$d/$(seg_name "$first")" $((n - 1)) 1 >/dev/null
	rm -f "$d"/tree/level-*
	run_verify --data "$d"
	expect_fail "flipped byte in the last entry, CRC fixed, tree deleted (checkpoint root)" \
		"^FAIL: checkpoints: byte [0-9]+: checkpoint #$((NCP - 1)): root at size $ENTRIES does not match"
}

case_flip_length_sealed() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	off=$(tp fliplen "$d/$(seg_name "$first")" 2 0 0x01)
	run_verify --data "$d"
	expect_fail "flipped byte in a frame length, sealed segment (low byte)" \
		"$(seg_name "$first"): byte $off: frame CRC mismatch after seq $((first + 1)) in a sealed segment"
	fresh; d=$FRESH; first=$(nth_seg "$d" 2)
	off=$(tp fliplen "$d/$(seg_name "$first")" 2 3 0x80)
	run_verify --data "$d"
	expect_fail "flipped byte in a frame length, sealed segment (high byte: huge length)" \
		"$(seg_name "$first"): byte $off: .* after seq $((first + 1)) in a sealed segment"
}

case_flip_length_last() {
	# In the active segment a damaged length hides the frames behind it;
	# verify must still fail, and name the segment and byte somewhere.
	local d first off
	fresh; d=$FRESH; first=$(last_seg "$d")
	off=$(tp fliplen "$d/$(seg_name "$first")" 1 0 0x01)
	run_verify_loud --data "$d"
	expect_fail "flipped byte in a frame length, last segment" \
		"covers [0-9]+ entries but the log holds only $((first + 1))"
	if ! printf '%s\n' "$OUT" | grep -q "$(seg_name "$first"): byte $off"; then
		notok "flipped length in the last segment: output names segment and byte" "$OUT"
	else
		ok "flipped length in the last segment: output names segment and byte"
	fi
}

case_flip_crc_field() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 3)
	off=$(tp flipcrc "$d/$(seg_name "$first")" 0)
	run_verify --data "$d"
	expect_fail "flipped byte in a frame's CRC field" \
		"$(seg_name "$first"): byte $off: frame CRC mismatch"
}

case_flip_header_magic() {
	local d first
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	tp flip "$d/$(seg_name "$first")" 2 0x04
	run_verify --data "$d"
	expect_fail "flipped byte in a segment header (magic)" \
		"$(seg_name "$first"): byte 0: bad magic"
}

case_flip_header_origin() {
	local d first
	fresh; d=$FRESH; first=$(nth_seg "$d" 2)
	tp hdrorigin "$d/$(seg_name "$first")" 0
	run_verify --data "$d"
	expect_fail "flipped byte in a segment header (origin; header CRC)" \
		"$(seg_name "$first"): byte 0: .*CRC"
	fresh; d=$FRESH; first=$(nth_seg "$d" 2)
	tp hdrorigin "$d/$(seg_name "$first")" 1
	run_verify --data "$d"
	expect_fail "flipped byte in a segment header (origin; header CRC fixed)" \
		"$(seg_name "$first"): byte 38: origin \"dxample.com/tamper\" is not this log's \"$ORIGIN\""
}

case_flip_header_first_seq() {
	local d first
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	tp flip "$d/$(seg_name "$first")" 20 0x01
	run_verify --data "$d"
	expect_fail "flipped byte in a segment header (first seq; header CRC)" \
		"$(seg_name "$first"): byte 0"
}

case_flip_tile_level0() {
	local d
	fresh; d=$FRESH
	# leaf 77, byte 5 of its hash
	tp flip "$d/tree/level-00" $((77 * 32 + 5)) 0x01
	run_verify --data "$d"
	expect_fail "flipped byte in tree/level-00 (tile 0/000)" \
		"^FAIL: tree/level-00: hash 77 \(tile/0/000 byte $((77 * 32))\)"
	fresh; d=$FRESH
	tp flip "$d/tree/level-00" $((300 * 32)) 0x80
	run_verify --data "$d"
	expect_fail "flipped byte in tree/level-00 (tile 0/001)" \
		"^FAIL: tree/level-00: hash 300 \(tile/0/001 byte $((44 * 32))\)"
}

case_flip_tile_level8() {
	local d
	fresh; d=$FRESH
	[ -s "$d/tree/level-08" ] || { notok "flipped byte in tree/level-08" "no level-08"; return; }
	tp flip "$d/tree/level-08" 17 0x02
	run_verify --data "$d"
	expect_fail "flipped byte in tree/level-08 (tile 1/000)" \
		"^FAIL: tree/level-08: hash 0 \(tile/1/000 byte 0\)" "leaves 0\.\.255"
}

case_flip_tree_interior() {
	local d
	fresh; d=$FRESH
	tp flip "$d/tree/level-03" $((5 * 32)) 0x01
	run_verify --data "$d"
	expect_fail "flipped byte in tree/level-03 (interior level)" \
		"^FAIL: tree/level-03: hash 5 \(interior level 3\)" "leaves 40\.\.47"
}

case_flip_checkpoint_sig() {
	local d
	fresh; d=$FRESH
	off=$(tp cpflip "$d/checkpoints" 2 sig 0)
	run_verify --data "$d"
	expect_fail "flipped byte in a checkpoint signature (frame CRC)" \
		"^FAIL: checkpoints: byte $off: checkpoint #2: frame CRC mismatch"
	fresh; d=$FRESH
	off=$(tp cpflip "$d/checkpoints" 2 sig 1)
	run_verify --data "$d"
	expect_fail "flipped byte in a checkpoint signature (CRC fixed)" \
		"^FAIL: checkpoints: byte $off: checkpoint #2: signature does not verify"
}

case_flip_checkpoint_body() {
	local d
	fresh; d=$FRESH
	off=$(tp cpflip "$d/checkpoints" 3 body 1)
	run_verify --data "$d"
	expect_fail "flipped byte in a checkpoint body (root; CRC fixed)" \
		"^FAIL: checkpoints: byte $off: checkpoint #3: signature does not verify"
}

case_flip_latest_checkpoint_copy() {
	local d
	fresh; d=$FRESH
	tp flip "$d/checkpoint" 3 0x01
	run_verify --data "$d"
	expect_fail "flipped byte in the checkpoint file (latest copy)" \
		"^FAIL: checkpoint: is not the last checkpoint of the history"
}

case_delete_record() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 2)
	off=$(tp delframe "$d/$(seg_name "$first")" 5)
	run_verify --data "$d"
	expect_fail "deleted record in the middle of a segment" \
		"$(seg_name "$first"): byte $off: entry says seq $((first + 6)) where seq $((first + 5)) belongs"
}

case_delete_record_last() {
	local d first off
	fresh; d=$FRESH; first=$(last_seg "$d")
	off=$(tp delframe "$d/$(seg_name "$first")" 1)
	run_verify --data "$d"
	expect_fail "deleted record in the middle of the last segment" \
		"$(seg_name "$first"): byte $off: entry says seq $((first + 2)) where seq $((first + 1)) belongs"
}

case_duplicate_record() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 1)
	off=$(tp dupframe "$d/$(seg_name "$first")" 4)
	run_verify --data "$d"
	expect_fail "duplicated record in the middle of a segment" \
		"$(seg_name "$first"): byte $off: entry says seq $((first + 4)) where seq $((first + 5)) belongs"
}

case_insert_foreign_record() {
	# A frame copied from another segment of the same log, inserted.
	local d first src off
	fresh; d=$FRESH; first=$(nth_seg "$d" 3); src=$(nth_seg "$d" 1)
	off=$(tp insertfrom "$d/$(seg_name "$first")" 6 "$d/$(seg_name "$src")" 2)
	run_verify --data "$d"
	expect_fail "inserted record copied from elsewhere in the log" \
		"$(seg_name "$first"): byte $off: entry says seq $((src + 2)) where seq $((first + 6)) belongs"
}

case_insert_twin_record() {
	# A frame from another log with the same origin, with the right seq.
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 0)
	# twin's frame 3 carries seq 3; put it where our seq 3 is, dropping ours.
	tp delframe "$d/$(seg_name "$first")" 3 >/dev/null
	off=$(tp insertfrom "$d/$(seg_name "$first")" 3 "$TWIN/$(seg_name 0)" 3)
	run_verify --data "$d"
	expect_fail "record replaced by one with the right seq from a same-origin log" \
		"$(seg_name "$first"): byte $off: seq 3: tenant .*(tprev|tseq)|tree/level-00: hash 3 "
}

case_reorder_records() {
	local d first off
	fresh; d=$FRESH; first=$(nth_seg "$d" 2)
	off=$(tp swap "$d/$(seg_name "$first")" 3)
	run_verify --data "$d"
	expect_fail "reordered records (two adjacent frames swapped)" \
		"$(seg_name "$first"): byte $off: entry says seq $((first + 4)) where seq $((first + 3)) belongs"
}

case_truncate_mid_frame() {
	local d first
	fresh; d=$FRESH; first=$(last_seg "$d")
	tp truncmid "$d/$(seg_name "$first")" 2 >/dev/null
	run_verify_loud --data "$d"
	expect_fail "truncated last segment in the middle of a frame" \
		"covers $ENTRIES entries but the log holds only $((first + 2))"
}

case_truncate_whole_frames() {
	local d first kept
	fresh; d=$FRESH; first=$(last_seg "$d")
	kept=$(tp truncframes "$d/$(seg_name "$first")" 3)
	run_verify --data "$d"
	expect_fail "truncated last segment by whole frames" \
		"covers $ENTRIES entries but the log holds only $((first + kept))"
}

case_truncate_whole_segment() {
	# The last segment removed entirely: the log ends with a sealed one.
	local d first
	fresh; d=$FRESH; first=$(last_seg "$d")
	rm -f "$d/$(seg_name "$first")" "$d/segments/$(printf %020d "$first").idx"
	run_verify --data "$d"
	expect_fail "last segment file deleted" \
		"covers $ENTRIES entries but the log holds only $first"
}

case_delete_sealed_segment() {
	local d first next
	fresh; d=$FRESH; first=$(nth_seg "$d" 2); next=$(nth_seg "$d" 3)
	rm -f "$d/$(seg_name "$first")" "$d/segments/$(printf %020d "$first").idx"
	run_verify --data "$d"
	expect_fail "deleted sealed segment" \
		"$(seg_name "$next"): byte 20: header says first seq $next, the log continues at seq $first"
}

case_swap_segment_other_origin() {
	local d
	fresh; d=$FRESH
	cp "$OTHER/$(seg_name 0)" "$d/$(seg_name 0)"
	run_verify --data "$d"
	expect_fail "segment swapped in from a log with another origin" \
		"$(seg_name 0): byte 38: origin \"example.com/elsewhere\" is not this log's \"$ORIGIN\" \(segment from another log\)"
}

case_swap_segment_same_origin() {
	local d
	fresh; d=$FRESH
	cp "$TWIN/$(seg_name 0)" "$d/$(seg_name 0)"
	run_verify --data "$d"
	expect_fail "segment swapped in from a log with the same origin" \
		"^FAIL: tree/level-00: hash 0 |^FAIL: $(seg_name 0): .*seq 0"
	# ... and with the derived tree removed too: the checkpoints catch it.
	fresh; d=$FRESH
	cp "$TWIN/$(seg_name 0)" "$d/$(seg_name 0)"
	rm -f "$d"/tree/level-*
	run_verify --data "$d"
	expect_fail "segment swapped in from a same-origin log, tree deleted" \
		"^FAIL: checkpoints: byte [0-9]+: checkpoint #[0-9]+: root at size [0-9]+ does not match|does not follow|tprev"
}

case_rollback_history() {
	local d
	fresh; d=$FRESH
	cp "$T/early/checkpoints" "$d/checkpoints"
	cp "$T/early/checkpoint" "$d/checkpoint"
	run_verify --data "$d"
	expect_fail "checkpoint history rolled back (state kept)" \
		"^FAIL: checkpoints: history rolled back"
	# Opening the log must refuse, and must not rewrite the state that
	# proves the rollback (regression: a failed open used to save state).
	if "$SEALTRAIL" entry --data "$d" 0 >/dev/null 2>&1; then
		notok "open of a rolled-back log" "sealtrail entry succeeded"
	else
		ok "open of a rolled-back log is refused"
	fi
	run_verify --data "$d"
	expect_fail "rollback still detected after a refused open" \
		"^FAIL: checkpoints: history rolled back"
}

case_rollback_history_and_state() {
	# The attacker restores the checkpoint history, the latest copy and
	# the state snapshot (the entries stay): the log is consistent with
	# itself, but a checkpoint someone saved later, signed by this log's
	# key, is missing from the history ("every checkpoint ever issued is
	# kept"), so --trusted must make verify fail.
	local d
	fresh; d=$FRESH
	cp "$T/early/checkpoints" "$T/early/checkpoint" "$T/early/state" "$d/"
	run_verify --data "$d" --trusted "$T/late.cp"
	expect_fail "checkpoint history and state rolled back; --trusted later checkpoint" \
		"^FAIL: trusted checkpoint $T/late.cp"
}

case_rollback_everything() {
	# The whole directory restored from the early copy: only a checkpoint
	# saved outside the log can tell.
	local d="$T/rollback-all"
	cp -a "$T/early" "$d"
	run_verify --data "$d"
	if [ "$RC" -eq 0 ]; then
		ok "whole log rolled back: verify alone passes (nothing to compare with)"
	else
		notok "whole log rolled back: verify alone" "$OUT"
	fi
	run_verify --data "$d" --trusted "$T/late.cp"
	expect_fail "whole log rolled back; --trusted later checkpoint" \
		"^FAIL: trusted checkpoint $T/late.cp: size $ENTRIES is not in the checkpoint history \\(history rolled back or rewritten\\)"
	run_verify --data "$P" --trusted "$T/late.cp"
	expect_pass "pristine log verifies with --trusted later checkpoint"
	run_verify --data "$P" --trusted "$T/early.cp"
	expect_pass "pristine log verifies with --trusted early checkpoint"
}

case_trusted_from_other_key() {
	# A checkpoint of the same origin signed by someone else's key is not
	# trusted by --key.
	local d
	fresh; d=$FRESH
	run_verify --data "$d" --key "$VKEY" --trusted "$TWIN/checkpoint"
	expect_fail "--trusted checkpoint signed by another key" \
		"^FAIL: trusted checkpoint $TWIN/checkpoint: signature does not verify"
}

case_forged_checkpoint() {
	# The attacker swaps in their own signing key (publishing it next to
	# ours, so the log still opens) and issues a checkpoint.
	local d
	fresh; d=$FRESH
	cp "$TWIN/keys/signer" "$d/keys/signer"
	cat "$TWIN/keys/public" >>"$d/keys/public"
	must "$SEALTRAIL" checkpoint --data "$d" --force
	run_verify --data "$d" --key "$VKEY"
	expect_fail "forged checkpoint signed with an attacker's key (--key original)" \
		"^FAIL: checkpoints: byte [0-9]+: checkpoint #$NCP: signature does not verify"
	run_verify --data "$d" --key "$TWIN_VKEY"
	expect_fail "forged checkpoint, --key attacker's: the real history does not verify" \
		"^FAIL: checkpoints: byte 0: checkpoint #0: signature does not verify"
	# keys/public now holds the attacker's key too, so without --key
	# the forgery passes: the reason --key exists.
	run_verify --data "$d"
	if [ "$RC" -eq 0 ]; then
		ok "forged checkpoint passes without --key (documented: pass --key)"
	else
		notok "forged checkpoint without --key" "$OUT"
	fi
}

case_forged_checkpoint_replaced_keys() {
	# Variant: keys/public replaced wholesale by the attacker's. Without
	# --key, verify checks against the (replaced) keys/public, and the
	# first checkpoint, signed with the real key, no longer verifies.
	local d
	fresh; d=$FRESH
	cp "$TWIN/keys/signer" "$TWIN/keys/public" "$d/keys/"
	run_verify --data "$d"
	expect_fail "keys/public replaced by an attacker's key" \
		"^FAIL: checkpoints: byte 0: checkpoint #0: signature does not verify"
}

case_open_keeps_damaged_tail() {
	# Recovery may truncate only a torn, unacknowledged tail. Damage in
	# the active segment behind which the state and the checkpoints still
	# count entries is not a torn tail: opening the log may adopt the
	# segment as it is (verify reports the damage) or refuse, but it must
	# not destroy acknowledged entries.
	local d first seg before after rc what
	for what in length crc; do
		fresh; d=$FRESH; first=$(last_seg "$d"); seg="$d/$(seg_name "$first")"
		if [ $what = length ]; then
			tp fliplen "$seg" 1 0 0x01 >/dev/null
		else
			tp flipentry "$seg" $(($(tp nframes "$seg") - 1)) 0 >/dev/null
		fi
		before=$(sha256sum <"$seg")
		rc=0
		"$SEALTRAIL" entry --data "$d" 0 >/dev/null 2>&1 || rc=$?
		after=$(sha256sum <"$seg")
		if [ "$before" != "$after" ]; then
			notok "opening a log with a damaged active segment keeps its bytes ($what)" \
				"opening (exit $rc) truncated $(seg_name "$first") to $(stat -c %s "$seg") bytes: acknowledged entries destroyed"
		else
			ok "opening a log with a damaged active segment keeps its bytes ($what; open exit $rc)"
		fi
	done
}

case_key_rotate() {
	local d newkey
	fresh; d=$FRESH
	newkey=$("$SEALTRAIL" key rotate --data "$d" 2>/dev/null)
	gen_events 40 99 >"$T/more.ndjson"
	must "$SEALTRAIL" append --data "$d" "$T/more.ndjson"
	must "$SEALTRAIL" checkpoint --data "$d" --force
	run_verify --data "$d"
	expect_pass "after key rotate + appends + checkpoint (keys/public)"
	run_verify --data "$d" --key "$VKEY" --key "$newkey"
	expect_pass "after key rotate + appends + checkpoint (--key OLD --key NEW)"
	run_verify --data "$d" --key "$VKEY"
	expect_fail "after key rotate, --key OLD only: the new checkpoints are not trusted" \
		"^FAIL: checkpoints: byte [0-9]+: checkpoint #$NCP: signature does not verify"
}

case_pristine_verifies
case_flip_entry_sealed
case_flip_entry_last
case_flip_entry_crc_fixed
case_flip_entry_crc_fixed_last
case_flip_entry_crc_fixed_no_tree
case_flip_length_sealed
case_flip_length_last
case_flip_crc_field
case_flip_header_magic
case_flip_header_origin
case_flip_header_first_seq
case_flip_tile_level0
case_flip_tile_level8
case_flip_tree_interior
case_flip_checkpoint_sig
case_flip_checkpoint_body
case_flip_latest_checkpoint_copy
case_delete_record
case_delete_record_last
case_duplicate_record
case_insert_foreign_record
case_insert_twin_record
case_reorder_records
case_truncate_mid_frame
case_truncate_whole_frames
case_truncate_whole_segment
case_delete_sealed_segment
case_swap_segment_other_origin
case_swap_segment_same_origin
case_rollback_history
case_rollback_history_and_state
case_rollback_everything
case_trusted_from_other_key
case_forged_checkpoint
case_forged_checkpoint_replaced_keys
case_open_keeps_damaged_tail
case_key_rotate

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
