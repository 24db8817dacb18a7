#!/usr/bin/env bash
# client.sh - libsealtrail (docs/CLIENT.md) against a real server, through
# tests/client/client_load.c (the exported API only):
#
# - outage: the library emits 150 events/s for 40 s while the server is
#   stopped (SIGTERM) for 30 s of it and started again on the same port:
#   every event reaches the log exactly once (by the server's capture
#   accounting: received = emitted, nothing missing, late or repeated),
#   and in order: log seqs rise with producer seqs;
# - kill -9 of the producing process mid-flush (the server paused with
#   SIGSTOP, so the spool holds unacknowledged events): a restart on the
#   same spool sends them, once each;
# - the spool's disk full (a 6 MiB tmpfs this script mounts, 4 MiB of it
#   taken by a filler file, the server paused): the records that fit
#   stay in the spool (at least 1.5 of the 2 MiB), the writes past them
#   fail and are retried each second while emit goes on into memory; the
#   filler removed, the writer resumes by itself and every event is
#   delivered once, with no gap and nothing torn;
# - a second client on the same spool is refused (it is locked).
set -euo pipefail
ST=${SEALTRAIL:?}
LOAD=$(dirname "$ST")/client_load
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup client
MOUNTED=""
trap '[ -z "$MOUNTED" ] || umount -l "$MOUNTED" 2>/dev/null || true; _st_test_cleanup' EXIT

D=$T/data
PORT=$(st_free_port)
printf 'checkpoint_interval = 100ms\ncapture_grace = 2s\n' >"$T/server.conf"
serve() { # serve TAG: the server on $PORT
	"$ST" serve --data "$D" --config "$T/server.conf" --listen "127.0.0.1:$PORT" ${1:+--init} >"$T/$2.out" 2>"$T/$2.err" &
	SPID=$!
	PIDS+=("$SPID")
	for _ in $(seq 1 200); do
		grep -q '^Serving on' "$T/$2.out" 2>/dev/null && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "Bail out! the server did not start: $(cat "$T/$2.err")"
	exit 1
}
serve init s1
"$ST" token create --data "$D" --role producer --tenant acme --name app 2>/dev/null | head -1 >"$T/prod.tok"
OPS=$("$ST" token create --data "$D" --role operator 2>/dev/null | head -1)
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT
cap() { # cap PRODUCER_ID: received missing late repeats highest
	curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/v1/capture" | python3 -c '
import json, sys
p = [x for x in json.load(sys.stdin)["producers"] if x["producer_id"] == sys.argv[1]]
print(" ".join(str(p[0][k]) for k in ("received", "missing", "late", "repeats", "highest")) if p else "none")' "$1"
}

# ---- the outage ----
"$LOAD" "$BASE" "$T/prod.tok" "$T/spool1" 6000 150 90000 >"$T/load1.out" 2>"$T/load1.err" &
LPID=$!
PIDS+=("$LPID")
sleep 5
st_stop "$SPID" 20
t_down=$SECONDS
sleep 30
serve "" s2
wait "$LPID" && lrc=0 || lrc=$?
o=$(cat "$T/load1.out")
PID1=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["producer_id"])' "$o" 2>/dev/null || echo none)
expect "outage: the producer emitted 6000 over 40 s, the server down 30 s; flush ok, retried meanwhile" \
	'[ $lrc = 0 ] && [[ $o == *"\"emitted\":6000"*"\"flush\":\"ok\""* ]] && python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j[\"retries\"] > 0 and j[\"acked\"] + j[\"duplicates\"] == 6000, j" "$o"' \
	"$lrc $o $(tail -3 "$T/load1.err") down at ${t_down}s"
expect "outage: the server counts 6000 received, none missing, late or repeated" '[ "$(cap "$PID1")" = "6000 0 0 0 6000" ]' "$(cap "$PID1")"
curl -s --max-time 30 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=action:client.test" \
	--data-urlencode fresh=1 --data-urlencode limit=1 "$BASE/v1/events" >/dev/null
ordered=$(python3 - "$BASE" "$AUD" <<'EOF'
import json, sys, urllib.request, urllib.parse
base, tok = sys.argv[1], sys.argv[2]
seqs, cursor = [], None
while True:
    q = {"q": "action:client.test", "sort": "seq", "limit": "1000"}
    if cursor:
        q["cursor"] = cursor
    req = urllib.request.Request(base + "/v1/events?" + urllib.parse.urlencode(q), headers={"Authorization": "Bearer " + tok})
    j = json.load(urllib.request.urlopen(req, timeout=30))
    seqs += [(e["seq"], e["entry"]["source"]["producer_seq"], e["entry"]["metadata"]["i"]) for e in j["events"]]
    cursor = j.get("next_cursor")
    if not cursor or not j["events"]:  # an empty page keeps its cursor, for later events
        break
ps = [p for _, p, _ in seqs]
ok = len(seqs) == 6000 and ps == sorted(ps) and len(set(ps)) == 6000 and all(p == i for _, p, i in seqs)
print("ok" if ok else "bad %d %s" % (len(seqs), seqs[:5]))
EOF
)
expect "outage: 6000 events in the log, each once, log order = producer order" '[ "$ordered" = ok ]' "$ordered"

# ---- kill -9 mid-flush ----
kill -STOP "$SPID"
"$LOAD" "$BASE" "$T/prod.tok" "$T/spool2" 3000 0 60000 >"$T/load2.out" 2>&1 &
LPID=$!
PIDS+=("$LPID")
sleep 2
kill -9 "$LPID"
wait "$LPID" 2>/dev/null || true
kill -CONT "$SPID"
spooled=$(ls "$T/spool2"/*.seg 2>/dev/null | wc -l)
"$LOAD" "$BASE" "$T/prod.tok" "$T/spool2" 0 0 60000 >"$T/load3.out" 2>&1 && lrc=0 || lrc=$?
o=$(cat "$T/load3.out")
PID2=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["producer_id"])' "$o" 2>/dev/null || echo none)
expect "kill -9 mid-flush: the restart on the same spool sends what was left; the server has 3000, once each" \
	'[ $lrc = 0 ] && [ "$spooled" -ge 1 ] && [ "$(cap "$PID2")" = "3000 0 0 0 3000" ]' "$lrc $o / $(cap "$PID2")"

# ---- a locked spool ----
"$LOAD" "$BASE" "$T/prod.tok" "$T/spool3" 100000 2000 60000 >/dev/null 2>&1 &
LPID=$!
PIDS+=("$LPID")
sleep 1
o=$("$LOAD" "$BASE" "$T/prod.tok" "$T/spool3" 1 0 1000 2>&1) && lrc=0 || lrc=$?
kill "$LPID" 2>/dev/null || true
wait "$LPID" 2>/dev/null || true
expect "a second client on a spool in use is refused" '[ $lrc = 1 ] && [[ $o == *"in use by another client"* ]]' "$lrc $o"

# ---- the spool's disk full ----
cap_sys_admin() { local hex; hex=$(sed -n 's/^CapEff:[[:space:]]*//p' /proc/self/status); [ $(( (16#$hex >> 21) & 1 )) = 1 ]; }
if [ "$(id -u)" = 0 ] && cap_sys_admin; then
	mkdir -p "$T/mnt"
	mount -t tmpfs -o size=6m,mode=0700 tmpfs "$T/mnt"
	MOUNTED=$T/mnt
	head -c 4M /dev/zero >"$T/mnt/filler"   # 2 MiB left: about 5,000 events
	kill -STOP "$SPID"     # nothing is acknowledged: the spool only grows
	"$LOAD" "$BASE" "$T/prod.tok" "$T/mnt/spool" 10000 0 90000 >"$T/load4.out" 2>"$T/load4.err" &
	LPID=$!
	PIDS+=("$LPID")
	full=no
	for _ in $(seq 1 100); do   # the spool has taken half of the 2 MiB
		[ "$(df --output=avail -k "$T/mnt" | tail -1)" -lt 1024 ] && { full=yes; break; }
		sleep 0.1
	done
	sleep 3                # the writer fails, and retries each second
	held=$(du -sk "$T/mnt/spool" | cut -f1)
	rm -f "$T/mnt/filler"  # room again, the server back
	kill -CONT "$SPID"
	wait "$LPID" && lrc=0 || lrc=$?
	o=$(cat "$T/load4.out")
	PID4=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["producer_id"])' "$o" 2>/dev/null || echo none)
	expect "spool disk full: the writer fails, retries, and resumes by itself once there is room; flush ok, nothing lost" \
		'[ $full = yes ] && [ $lrc = 0 ] && python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j[\"spool_write_errors\"] > 0 and j[\"lost\"] == 0 and j[\"spooled\"] == 10000 and j[\"acked\"] + j[\"duplicates\"] == 10000, j" "$o"' \
		"full=$full $lrc $o $(tail -2 "$T/load4.err")"
	expect "spool disk full: the records that fit stay in the spool while the writer fails (${held} KiB of 2 MiB)" '[ "$held" -ge 1536 ]' "held=${held} KiB"
	expect "spool disk full: the server has all 10000, once each, no gap" '[ "$(cap "$PID4")" = "10000 0 0 0 10000" ]' "$(cap "$PID4")"
	umount "$T/mnt"
	MOUNTED=""
else
	echo "# SKIP the spool-disk-full case: mounting a tmpfs needs root with CAP_SYS_ADMIN"
fi

st_stop "$SPID" 20
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
