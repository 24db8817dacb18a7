#!/usr/bin/env bash
# server_disk.sh - the disk thresholds of `sealtrail serve` (src/ingest/ingest.c,
# docs/API.md) on a real small file system: a 96 MiB tmpfs this script mounts,
# the data directory in it, thresholds space_left = 48M, admin_space_left =
# 32M, disk_full = 16M, critical_actions = auth.,iam. A filler file is grown
# (fallocate) so that the free space falls into each band in turn:
#
#  start               /readyz 200 at once: the log's latest checkpoint
#                       (signed by init a moment before) is younger than
#                       checkpoint_max_age;
#  ok (~79M free)       sealtrail_disk_level 0, ingest 200, /readyz 200;
#  space_left (~40M)    level 1; a _sealtrail event sealtrail.disk.space_left
#                       (GET /v1/events?tenant=_sealtrail, all-tenant
#                       auditor); ingest still 200; /readyz still 200;
#  admin_space_left     level 2; a sealtrail.disk.admin_space_left event; a
#    (~24M)             non-critical event alone: 507 insufficient_storage
#                       with Retry-After; a mixed batch: 207, refused per
#                       event (insufficient_storage) but iam.* and auth.*
#                       accepted; an iam.* event alone: 200; /readyz 503;
#  disk_full (~8M)      level 3; every event 507 insufficient_storage with
#                       Retry-After, iam.* too, alone or in a batch; /readyz
#                       503; an audited read is either refused or its
#                       meta-audit event reaches the log once space returns
#                       (API.md: never served unaudited);
#  filler removed       within ~2 s, without a restart: ingest 200, level 0,
#                       /readyz 200; then SIGTERM: exit 0, the final
#                       checkpoint covers the tree, `sealtrail verify`
#                       passes, and every event acknowledged here is in the
#                       log at its seq with its leaf hash (no corruption, no
#                       loss).
#
# The server samples free space at most every 100 ms and before every
# group; the checks poll (bounded) for the level to show in /metrics.
#
# Mounting needs root with CAP_SYS_ADMIN. Decision: without them (not root,
# or root in a container without CAP_SYS_ADMIN) the test prints
# "SKIP: <reason>" and "0 passed, 0 failed" and exits 0, since it cannot
# work there; as root with CAP_SYS_ADMIN a failed mount is a failure (it
# should have worked).
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/lib/stclient.py
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-disk.XXXXXX")
MNT=$T/mnt
SPID=""
MOUNTED=0
cleanup() {
	if [ -n "$SPID" ]; then kill -9 "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true; fi
	if [ "$MOUNTED" = 1 ]; then umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
st_loopback_only
pass=0 fail=0
ST_DETAIL_LINES=20
t0=$SECONDS

# ---- the file system --------------------------------------------------------------
mkdir -p "$MNT"
cap_sys_admin() { # bit 21 of CapEff
	local hex
	hex=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status 2>/dev/null)
	[ -n "$hex" ] && [ $(( (16#$hex >> 21) & 1 )) = 1 ]
}
if [ "$(id -u)" != 0 ] || ! cap_sys_admin; then
	echo "SKIP: mounting a tmpfs needs root with CAP_SYS_ADMIN (uid $(id -u), CAP_SYS_ADMIN $(cap_sys_admin && echo yes || echo no))"
	echo "0 passed, 0 failed"
	exit 0
fi
if ! merr=$(mount -t tmpfs -o size=96m,mode=0700 tmpfs "$MNT" 2>&1); then
	no "mount a 96 MiB tmpfs as root with CAP_SYS_ADMIN" "$merr"
	echo "$pass passed, $fail failed"
	exit 1
fi
MOUNTED=1
ok "mounted a 96 MiB tmpfs on $MNT"
free_bytes() { df -B1 --output=avail "$MNT" | tail -1 | tr -d ' '; }
FILLER=$MNT/filler
# fill_to BYTES: grows the filler so that about BYTES stay free.
fill_to() {
	local have free want
	have=$(stat -c %s "$FILLER" 2>/dev/null || echo 0)
	free=$(free_bytes)
	want=$((have + free - $1))
	if [ "$want" -gt "$have" ]; then fallocate -l "$want" "$FILLER"; fi
}
M=$((1024 * 1024))

# ---- the server ----------------------------------------------------------------------
D=$MNT/log
LOG=$T/server.log          # outside the tmpfs: logging must not move the levels
CFG=$T/server.conf
"$ST" init --data "$D" --origin example.com/disk >/dev/null 2>&1
cat > "$CFG" <<EOF
log_file = $LOG
space_left = 48M
admin_space_left = 32M
disk_full = 16M
critical_actions = auth.,iam.
EOF
mk_token() { # mk_token NAME ARGS...: writes $T/h.NAME, a curl header file
	local name=$1; shift
	printf 'Authorization: Bearer %s\n' "$("$ST" token create --data "$D" "$@" 2>/dev/null | head -1)" > "$T/h.$name"
}
mk_token prod --role producer --tenant acme --name prod
mk_token aud --role auditor --all-tenants --name aud
mk_token adm --role admin --name adm
if ! ST_SERVER_LOG=$LOG st_start_server server --data "$D" --config "$CFG" 2>/dev/null; then
	SPID=""
	no "the server starts on the tmpfs" "$(cat "$T/server.err" "$LOG" 2>/dev/null)"
	echo "$pass passed, $fail failed"
	exit 1
fi

# req METHOD PATH TOKEN [BODY-FILE [CONTENT-TYPE]]: sets RS to the status;
# the headers are in $T/rh, the body in $T/rb.
req() {
	local args=(-s -o "$T/rb" -D "$T/rh" -w '%{http_code}' -X "$1" -H @"$T/h.$3" --max-time 20)
	if [ -n "${4:-}" ]; then args+=(-H "Content-Type: ${5:-application/x-ndjson}" --data-binary @"$4"); fi
	RS=$(curl "${args[@]}" "http://127.0.0.1:$PORT$2") || RS=000
}
retry_after() { grep -qi '^retry-after: [0-9][0-9]*' "$T/rh"; }
# jb EXPR: a python expression over d, the JSON body.
jb() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$T/rb" "$1" 2>/dev/null; }
# events FILE ACTION:ID...: one NDJSON event per argument.
events() {
	local f=$1; shift
	: > "$f"
	for a in "$@"; do
		printf '{"time":"2026-01-01T00:00:00Z","action":"%s","actor":{"id":"u"},"resource":{"type":"doc"},"id":"%s"}\n' \
			"${a%%:*}" "${a#*:}" >> "$f"
	done
}
# keep the acknowledged results for the final log check
ACKS=$T/acks
save_acks() {
	python3 - "$T/rb" >> "$ACKS" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])).get("results", []):
    if "seq" in r:
        print(json.dumps({"id": r["id"], "seq": r["seq"], "leaf": r["leaf_hash"]}))
PY
}
level() {
	req GET /metrics adm
	sed -n 's/^sealtrail_disk_level \([0-9]\)$/\1/p' "$T/rb"
}
# wait_level L: polls /metrics (at most 4 s); true when it shows L.
wait_level() {
	for _ in $(seq 1 40); do
		[ "$(level)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_meta ACTION: polls the _sealtrail stream (at most 4 s) for an event.
wait_meta() {
	for _ in $(seq 1 20); do
		req GET "/v1/events?tenant=_sealtrail&fresh=1&limit=1000" aud
		[ "$RS" = 200 ] && [ "$(jb "sum(1 for e in d['events'] if e['entry']['action'] == '$1')")" -ge 1 ] && return 0
		sleep 0.2
	done
	return 1
}
codes() { jb "' '.join(r['error']['code'] if 'error' in r else 'seq' for r in d['results'])"; }

# ---- ok ---------------------------------------------------------------------------------
echo "# free at start: $(( $(free_bytes) / M )) MiB"
# Right after the start the log's latest checkpoint (signed by init a moment
# ago) is younger than checkpoint_max_age, so /readyz should be 200.
req GET /readyz adm
expect "start: /readyz 200 at once (the log's latest checkpoint is seconds old) ($RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"
# wait_ready STATUS: polls /readyz (at most 3 s) for STATUS.
wait_ready() {
	for _ in $(seq 1 30); do
		req GET /readyz adm
		[ "$RS" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
expect "ok: sealtrail_disk_level 0" 'wait_level 0'
events "$T/e" doc.write:ok-1
req POST /v1/events prod "$T/e"
expect "ok: a non-critical event is accepted (status $RS)" '[ "$RS" = 200 ]'
[ "$RS" = 200 ] && save_acks
expect "ok: /readyz 200 (within 3 s)" 'wait_ready 200' "$(cat "$T/rb")"

# ---- space_left ----------------------------------------------------------------------
fill_to $((40 * M))
echo "# free: $(( $(free_bytes) / M )) MiB"
expect "space_left: sealtrail_disk_level 1" 'wait_level 1' "level $(level)"
expect "space_left: a _sealtrail event sealtrail.disk.space_left is in the log" 'wait_meta sealtrail.disk.space_left'
events "$T/e" doc.write:sl-1
req POST /v1/events prod "$T/e"
expect "space_left: a non-critical event is still accepted (status $RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"
[ "$RS" = 200 ] && save_acks
req GET /readyz adm
expect "space_left: /readyz still 200 ($RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"

# ---- admin_space_left ----------------------------------------------------------------
fill_to $((24 * M))
echo "# free: $(( $(free_bytes) / M )) MiB"
expect "admin_space_left: sealtrail_disk_level 2" 'wait_level 2' "level $(level)"
expect "admin_space_left: a _sealtrail event sealtrail.disk.admin_space_left is in the log" \
	'wait_meta sealtrail.disk.admin_space_left'
events "$T/e" doc.write:asl-1
req POST /v1/events prod "$T/e"
expect "admin_space_left: a non-critical event alone: 507 insufficient_storage with Retry-After ($RS, $(codes))" \
	'[ "$RS" = 507 ] && retry_after && [ "$(codes)" = insufficient_storage ]' "$(cat "$T/rh" "$T/rb")"
events "$T/e" doc.write:asl-2 iam.user.update:asl-3 auth.login:asl-4 doc.read:asl-5
req POST /v1/events prod "$T/e"
expect "admin_space_left: a mixed batch: 207, the non-critical refused per event, iam.* and auth.* accepted ($RS: $(codes))" \
	'[ "$RS" = 207 ] && [ "$(codes)" = "insufficient_storage seq seq insufficient_storage" ]' "$(cat "$T/rb")"
[ "$RS" = 207 ] && save_acks
events "$T/e" iam.role.grant:asl-6
req POST /v1/events prod "$T/e"
expect "admin_space_left: an iam.* event alone: 200 ($RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"
[ "$RS" = 200 ] && save_acks
req GET /readyz adm
expect "admin_space_left: /readyz 503 naming the disk ($RS)" \
	'[ "$RS" = 503 ] && grep -q "\"disk\":\"admin_space_left\"" "$T/rb"' "$(cat "$T/rb")"

# ---- disk_full -------------------------------------------------------------------------
fill_to $((8 * M))
echo "# free: $(( $(free_bytes) / M )) MiB"
expect "disk_full: sealtrail_disk_level 3" 'wait_level 3' "level $(level)"
events "$T/e" iam.user.update:df-1
req POST /v1/events prod "$T/e"
expect "disk_full: an iam.* event alone: 507 insufficient_storage with Retry-After ($RS, $(codes))" \
	'[ "$RS" = 507 ] && retry_after && [ "$(codes)" = insufficient_storage ]' "$(cat "$T/rh" "$T/rb")"
events "$T/e" doc.write:df-2 auth.login:df-3 iam.x:df-4
req POST /v1/events prod "$T/e"
expect "disk_full: a batch, critical or not: 507 with Retry-After, every event insufficient_storage ($RS, $(codes))" \
	'[ "$RS" = 507 ] && retry_after && [ "$(codes)" = "insufficient_storage insufficient_storage insufficient_storage" ]' \
	"$(cat "$T/rh" "$T/rb")"
req GET /readyz adm
expect "disk_full: /readyz 503 ($RS)" '[ "$RS" = 503 ] && grep -q "\"disk\":\"disk_full\"" "$T/rb"' "$(cat "$T/rb")"
# wait_log PATTERN: polls the server's log file (at most 3 s; the main loop
# looks at the level once a second).
wait_log() {
	for _ in $(seq 1 30); do
		grep -q -- "$1" "$LOG" && return 0
		sleep 0.1
	done
	return 1
}
expect "disk_full: the server logs the level change" 'wait_log "disk level admin_space_left -> disk_full"' "$(grep "disk level" "$LOG")"
# An audited read while nothing can be written: refused, or audited later.
seq0=$(head -1 "$ACKS" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
req GET "/v1/events/$seq0" aud
dfread=$RS
echo "# disk_full: GET /v1/events/$seq0 (an audited read) answered $dfread"

# ---- space returns -----------------------------------------------------------------------
rm -f "$FILLER"
ts=$(date +%s%N)
events "$T/e" doc.write:back-1
back=""
for _ in $(seq 1 40); do
	req POST /v1/events prod "$T/e"
	if [ "$RS" = 200 ]; then back=$((($(date +%s%N) - ts) / 1000000)); break; fi
	sleep 0.1
done
expect "space returns: a non-critical event is accepted again within 2 s, no restart (after ${back:-never} ms)" \
	'[ -n "$back" ] && [ "$back" -le 2000 ]' "$(cat "$T/rb")"
[ "$RS" = 200 ] && save_acks
expect "space returns: sealtrail_disk_level 0" 'wait_level 0' "level $(level)"
wait_log "disk level disk_full -> ok" || true
req GET /readyz adm
expect "space returns: /readyz 200 ($RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"
# the read made at disk_full: refused, or its meta-audit event is in the log
audited=0
if [ "$dfread" = 200 ]; then
	for _ in $(seq 1 20); do
		req GET "/v1/events?tenant=_sealtrail&fresh=1&limit=1000" aud
		n=$(jb "sum(1 for e in d['events'] if e['entry'].get('metadata', {}).get('path') == '/v1/events/$seq0')")
		[ "${n:-0}" -ge 1 ] && { audited=1; break; }
		sleep 0.2
	done
fi
expect "disk_full: an audited read is refused, or its meta-audit event reaches the log (answered $dfread, event in the log: $audited)" \
	'[ "$dfread" != 200 ] || [ "$audited" = 1 ]' \
	"GET /v1/events/$seq0 was served 200 at disk_full, and no sealtrail.events.read event for it is in the _sealtrail stream after space returned"

# ---- stop and verify ---------------------------------------------------------------------
st_stop "$SPID" 10
src=$ST_EXIT
SPID=""
expect "SIGTERM: exit 0 within 10 s (status $src)" '[ "$src" = 0 ]' "$(tail -5 "$LOG")"
"$ST" dump --data "$D" > "$T/dump"
n=$(head -1 "$T/dump" | sed -E 's/.*: ([0-9]+) entries$/\1/')
cpsize=$(sed -n 2p "$D/checkpoint")
vrc=0
vout=$("$ST" verify --data "$D" 2>&1) || vrc=$?
expect "verify passes after the thresholds (no corruption): $(printf '%s' "$vout" | head -1 | cut -c1-60)" '[ $vrc = 0 ]' "$vout"
expect "the final checkpoint covers the tree (size $cpsize, $n entries)" '[ "$cpsize" = "$n" ]'
lcrc=0
lcout=$(python3 "$CLIENT" logcheck "$T/dump" --acks "$ACKS" 2>&1) || lcrc=$?
expect "every event acknowledged here is in the log at its seq with its leaf hash ($(printf '%s' "$lcout" | tail -1))" \
	'[ $lcrc = 0 ] && [ "$(wc -l < "$ACKS")" -ge 5 ]' "$lcout"
expect "the server logged each level change, down and back up" \
	'grep -q "disk level ok -> space_left" "$LOG" && grep -q "disk level space_left -> admin_space_left" "$LOG" && grep -q "disk level admin_space_left -> disk_full" "$LOG" && grep -q "disk level disk_full -> ok" "$LOG"' \
	"$(grep "disk level" "$LOG")"

# ---- the thresholds off: a real ENOSPC, and recovery without a restart -----------------
# With every threshold at 0 nothing refuses early: a group meets ENOSPC, the
# log poisons itself (DESIGN: a failed write is sticky), ingest answers
# 507/503; when space returns the server closes and reopens the log
# (recovery) by itself and ingest resumes, with every ack intact.
printf 'log_file = %s\nspace_left = 0\nadmin_space_left = 0\ndisk_full = 0\n' "$LOG" > "$CFG"
if ST_SERVER_LOG=$LOG st_start_server server --data "$D" --config "$CFG" 2>/dev/null; then
	events "$T/e" doc.write:enospc-before
	req POST /v1/events prod "$T/e"
	[ "$RS" = 200 ] && save_acks
	expect "thresholds off: ingest works before the disk fills ($RS)" '[ "$RS" = 200 ]' "$(cat "$T/rb")"
	fill_to $((256 * 1024))
	python3 - > "$T/big" <<'PY'
import json
for i in range(1000):
    print(json.dumps({"time": "2026-01-01T00:00:00Z", "action": "doc.write", "actor": {"id": "u"},
                      "resource": {"type": "doc"}, "metadata": {"pad": "x" * 3000}, "id": "fill-%d" % i}))
PY
	full=""
	for _ in $(seq 1 40); do
		req POST /v1/events prod "$T/big"
		[ "$RS" = 200 ] && save_acks
		if [ "$RS" = 507 ] || [ "$RS" = 503 ]; then full=$RS; break; fi
	done
	expect "thresholds off: a full disk refuses ingest with 507/503 and Retry-After (got ${full:-nothing})" \
		'[ -n "$full" ] && retry_after' "$(cat "$T/rb")"
	req POST /v1/events prod "$T/e"
	expect "thresholds off: the log stays refused while full ($RS)" '[ "$RS" = 503 ] || [ "$RS" = 507 ]' "$(cat "$T/rb")"
	rm -f "$FILLER"
	events "$T/e" doc.write:enospc-after
	back=""
	ts=$(date +%s%N)
	for _ in $(seq 1 150); do
		req POST /v1/events prod "$T/e"
		if [ "$RS" = 200 ]; then back=$((($(date +%s%N) - ts) / 1000000)); save_acks; break; fi
		sleep 0.1
	done
	expect "thresholds off: space back, the server recovers the log by itself and ingest resumes (after ${back:-never} ms)" \
		'[ -n "$back" ]' "$(tail -5 "$LOG")"
	expect "thresholds off: the server logged the recovery" 'grep -q "recovered: tree size" "$LOG"' "$(tail -5 "$LOG")"
	st_stop "$SPID" 30
	SPID=""
	expect "thresholds off: SIGTERM exit 0 ($ST_EXIT)" '[ "$ST_EXIT" = 0 ]' "$(tail -5 "$LOG")"
	vrc=0
	vout=$("$ST" verify --data "$D" 2>&1) || vrc=$?
	expect "thresholds off: verify passes after ENOSPC and recovery" '[ $vrc = 0 ]' "$vout"
	"$ST" dump --data "$D" > "$T/dump"
	lcrc=0
	lcout=$(python3 "$CLIENT" logcheck "$T/dump" --acks "$ACKS" 2>&1) || lcrc=$?
	expect "thresholds off: every acknowledged event is in the log at its seq with its leaf hash" '[ $lcrc = 0 ]' "$lcout"
else
	SPID=""
	no "thresholds off: the server restarts" "$(tail -5 "$LOG")"
fi

echo "# $((SECONDS - t0)) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
