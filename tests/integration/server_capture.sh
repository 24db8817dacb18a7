#!/usr/bin/env bash
# server_capture.sh - capture-rate accounting (docs/CAPTURE.md) end to end
# through `sealtrail serve` with capture_grace = 2s:
#
# - seqs 1..200 of one producer instance with 150 and 160..162 missing:
#   /v1/capture shows 196 received and 4 open holes, then, the grace
#   passed, 4 missing, each range a sealtrail.capture.gap event (audited
#   in _sealtrail) and a metric;
# - a retried event (same id) is a duplicate, counted once; seq 150
#   arriving after its gap is late, never received;
# - a heartbeat declaring 210 turns the unsent 201..210 into a gap;
#   two instances of one token are counted apart;
# - a seq far above the window reports the holes it pushes out at once;
# - a clean restart keeps every count; a SIGKILL after more events, then
#   a restart, replays the log: no false gap, nothing counted twice;
# - a bad producer_seq or producer_id is a 400 naming the field.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup capture

D=$T/data
printf 'capture_grace = 2s\ncheckpoint_interval = 100ms\n' >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
mk() { "$ST" token create --data "$D" --role "$1" "${@:2}" 2>/dev/null | head -1; }
PROD=$(mk producer --tenant acme --name app)
AUD=$(mk auditor --all-tenants)
OPS=$(mk operator)
sleep 2.2
BASE=http://127.0.0.1:$PORT

# send PID SEQ...: one NDJSON request with an event per seq (ids ev-PID-SEQ)
send() {
	local pid=$1
	shift
	python3 - "$pid" "$@" >"$T/body" <<'EOF'
import json, sys
pid = sys.argv[1]
for s in sys.argv[2:]:
    act = "sealtrail.heartbeat" if s.startswith("hb") else "app.write"
    n = int(s[2:]) if s.startswith("hb") else int(s)
    e = {"time": "2026-11-28T10:00:00Z", "action": act, "actor": {"id": "svc"}, "resource": {"type": "doc"},
         "source": {"producer_id": pid, "producer_seq": n}}
    e["id"] = "hb-%s-%d" % (pid, n) if act != "app.write" else "ev-%s-%d" % (pid, n)
    print(json.dumps(e))
EOF
	curl -s --max-time 20 -o "$T/r" -w '%{http_code}' -H "Authorization: Bearer $PROD" \
		-H 'Content-Type: application/x-ndjson' --data-binary "@$T/body" "$BASE/v1/events"
	echo " $(cat "$T/r")"
}
cap() { # cap PID FIELD...: numbers of /v1/capture, from one snapshot
	curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/v1/capture" | python3 -c '
import json, sys
j = json.load(sys.stdin)
p = [x for x in j["producers"] if x["producer_id"] == sys.argv[1]]
print(" ".join(str(p[0][f]) for f in sys.argv[2:]) if p else "none")' "$@"
}

seqs=$(python3 -c 'print(" ".join(str(i) for i in range(1, 201) if i != 150 and not 160 <= i <= 162))')
# shellcheck disable=SC2086
r=$(send web-1 $seqs)
expect "196 events of instance web-1 (150 and 160..162 left out): 200" '[[ $r == 200* ]]' "${r:0:300}"
expect "at once: 196 received, 4 open holes, none missing yet" \
	'[ "$(cap web-1 received open_holes missing)" = "196 4 0" ]'
r=$(send web-1 10 20 30)
expect "a retry (same ids) is a duplicate, not counted again" '[[ $r == 200*"\"duplicate\":true"* ]] && [ "$(cap web-1 received)" = 196 ]' "${r:0:300}"
for _ in $(seq 1 100); do
	[ "$(cap web-1 missing)" = 4 ] && break
	sleep 0.1
done
expect "the grace passed (2 s): 4 missing, no hole open" \
	'[ "$(cap web-1 missing)" = 4 ] && [ "$(cap web-1 open_holes)" = 0 ] && [ "$(cap web-1 next_expected)" = 201 ]'
audit=""
for _ in $(seq 1 30); do
	audit=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=_sealtrail&q=action:sealtrail.capture.gap&fresh=1&limit=100")
	[ "$(grep -o '"action":"sealtrail.capture.gap"' <<<"$audit" | wc -l)" -ge 2 ] && break
	sleep 0.2
done
expect "each missing range is a sealtrail.capture.gap event: 150..150 and 160..162" \
	'[[ $audit == *"\"from\":150,\"to\":150,\"count\":1"* && $audit == *"\"from\":160,\"to\":162,\"count\":3"* && $audit == *"\"id\":\"app/web-1\""* ]]' "${audit:0:800}"
r=$(send web-1 150)
expect "seq 150 after its gap: late, not received" '[[ $r == 200* ]] && [ "$(cap web-1 late)" = 1 ] && [ "$(cap web-1 received)" = 196 ]'

# a heartbeat: 201..210 were sent, never arrived
r=$(send web-1 hb210)
expect "a heartbeat declaring 210: 10 open holes, highest 210" \
	'[ "$(cap web-1 highest open_holes last_heartbeat_seq)" = "210 10 210" ]'
r=$(send web-2 1 2 3)
expect "another instance of the same token is counted apart" '[ "$(cap web-2 received)" = 3 ] && [ "$(cap web-1 received)" = 196 ]'
for _ in $(seq 1 100); do
	[ "$(cap web-1 missing)" = 14 ] && break
	sleep 0.1
done
expect "after the grace: 201..210 missing too (14 in all)" '[ "$(cap web-1 missing)" = 14 ]'

# far above the window (4096): the holes pushed out are due at once
r=$(send web-2 5000)
expect "seq 5000 after 3: the holes below 905 are reported at once" \
	'[ "$(cap web-2 missing)" -ge 900 ] && [ "$(cap web-2 received)" = 4 ]' "$(cap web-2 missing)"

m=$(curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/metrics")
expect "metrics: events by fate and the ratio per instance" \
	'grep -q "^sealtrail_capture_events_total{producer=\"app\",producer_id=\"web-1\",fate=\"missing\"} 14$" <<<"$m" &&
	 grep -q "^sealtrail_capture_events_total{producer=\"app\",producer_id=\"web-1\",fate=\"received\"} 196$" <<<"$m" &&
	 grep -q "^sealtrail_capture_ratio{producer=\"app\",producer_id=\"web-1\",window=\"5m\"} 0.93" <<<"$m"' \
	"$(grep capture <<<"$m")"

before=$(curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/v1/capture" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sorted((p["producer_id"], p["received"], p["missing"], p["late"], p["next_expected"], p["highest"]) for p in j["producers"]))')
st_stop "$SPID" 20
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
after=$(curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/v1/capture" | python3 -c '
import json, sys
j = json.load(sys.stdin)
print(sorted((p["producer_id"], p["received"], p["missing"], p["late"], p["next_expected"], p["highest"]) for p in j["producers"]))')
expect "a clean restart keeps every count" '[ "$before" = "$after" ] && ! grep -q "capture: counted" "$T/s2.err"' "$before / $after"

# SIGKILL right after more events: the restart replays the log
seqs=$(python3 -c 'print(" ".join(str(i) for i in range(211, 311)))')
# shellcheck disable=SC2086
r=$(send web-1 $seqs)
kill -9 "$SPID"
st_wait_exit "$SPID" 10 || true
st_start_server s3 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
expect "after a SIGKILL: the log replayed; 100 more received, once; no false gap" \
	'[ "$(cap web-1 received)" = 296 ] && [ "$(cap web-1 missing)" = 14 ] && [ "$(cap web-1 late)" = 1 ] && [ "$(cap web-1 next_expected)" = 311 ] && grep -q "capture: counted" "$T/s3.err"' \
	"$(cap web-1 received) $(cap web-1 missing) $(cap web-1 late) $(cap web-1 next_expected); $(grep capture "$T/s3.err")"

bad() { curl -s --max-time 10 -o "$T/r" -w '%{http_code}' -H "Authorization: Bearer $PROD" \
	-H 'Content-Type: application/json' --data-binary "$1" "$BASE/v1/events"; echo " $(cat "$T/r")"; }
r1=$(bad '{"time":"2026-11-28T10:00:00Z","action":"a","actor":{"id":"u"},"resource":{"type":"t"},"source":{"producer_seq":0}}')
r2=$(bad '{"time":"2026-11-28T10:00:00Z","action":"a","actor":{"id":"u"},"resource":{"type":"t"},"source":{"producer_id":"a b","producer_seq":1}}')
expect "a bad producer_seq or producer_id: 400 naming the field" \
	'[[ $r1 == 400*source.producer_seq* && $r2 == 400*source.producer_id* ]]' "$r1 / $r2"

st_stop "$SPID" 20
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
