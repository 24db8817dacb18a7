#!/usr/bin/env bash
# import.sh - `sealtrail import` (docs/IMPORT.md) against a real server:
#
# - NDJSON, 2,500 lines (a third without an id) in batches of 400: all in
#   the log; a bad line is named FILE:LINE, exit 1, the others imported;
# - a second run sends nothing (the state file); lines appended to the
#   file are read from where the first run stopped, with their line
#   numbers; with the state file removed, a re-run is all duplicates:
#   never a copy;
# - with the server down the run fails (exit 1) keeping its progress, and
#   the next run, the server back, imports the rest exactly once;
# - a rotated file (same path, other content) starts over;
# - kube-apiserver's audit log (one Event a line), gzip-compressed: mapped
#   as the webhook maps it; a re-import is duplicates.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup import

D=$T/data
printf 'checkpoint_interval = 100ms\n' >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
"$ST" token create --data "$D" --role producer --tenant acme 2>/dev/null | head -1 >"$T/prod.tok"
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT
count() { # count QUERY: events matching (a fresh search first: the index caught up)
	curl -s --max-time 20 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=$1" --data-urlencode fresh=1 \
		--data-urlencode limit=1 "$BASE/v1/events" >/dev/null
	curl -s --max-time 20 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=$1" \
		--data-urlencode by=action "$BASE/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("total", 0))'
}
imp() { # imp ARGS...: runs import from $T (the default state file there)
	(cd "$T" && "$ST" import --url "$BASE" --token-file "$T/prod.tok" "$@")
}

python3 - "$T/a.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(2500):
        e = {"time": "2026-11-28T08:%02d:%02dZ" % (i // 60 % 60, i % 60), "action": "import.test",
             "actor": {"id": "u-%d" % (i % 17)}, "resource": {"type": "doc", "id": "d-%d" % i}}
        if i % 3:
            e["id"] = "a-%d" % i
        if i == 1234:
            e["colour"] = "red"            # not an event: named, refused
        f.write(json.dumps(e) + "\n")
EOF
o=$(imp --format ndjson --batch 400 a.ndjson 2>&1) && rc=0 || rc=$?
expect "2,500 lines: 2,499 new, the bad one named by FILE:LINE, exit 1" \
	'[ $rc = 1 ] && [[ $o == *"a.ndjson:1235: "*colour* && $o == *"2499 events new, 0 already in the log, 1 refused"* ]]' "$rc $o"
expect "... and all 2,499 are in the log" '[ "$(count "action:import.test")" = 2499 ]'
o=$(imp --format ndjson a.ndjson 2>&1) && rc=0 || rc=$?
expect "a second run sends nothing (the state file)" '[ $rc = 0 ] && [[ $o == *"0 events new, 0 already in the log, 0 refused"* ]]' "$rc $o"
printf '%s\n' '{"time":"2026-11-28T09:00:00Z","action":"import.test","actor":{"id":"late"},"resource":{"type":"doc"}}' \
	'{"time":"2026-11-28T09:00:01Z","action":"import.test","actor":{"id":"late"},"resource":{"type":"doc"},"bad":1}' >>"$T/a.ndjson"
o=$(imp --format ndjson a.ndjson 2>&1) && rc=0 || rc=$?
expect "appended lines: only they are read, the bad one named by its line number (2502)" \
	'[ $rc = 1 ] && [[ $o == *"a.ndjson:2502: "* && $o == *"1 events new, 0 already in the log, 1 refused"* ]]' "$rc $o"
mv "$T/.sealtrail-import.state" "$T/state.keep"
o=$(imp --format ndjson --batch 1000 a.ndjson 2>&1) && rc=0 || rc=$?
expect "without the state file: every event a duplicate, none a copy" \
	'[[ $o == *"0 events new, 2500 already in the log, 2 refused"* ]] && [ "$(count "action:import.test")" = 2500 ]' "$rc $o"

# the server down mid-way: progress kept, the rest exactly once
python3 - "$T/b.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(300):
        f.write(json.dumps({"id": "b-%d" % i, "time": "2026-11-28T10:00:00Z", "action": "import.outage",
                            "actor": {"id": "u"}, "resource": {"type": "doc"}}) + "\n")
EOF
head -n 100 "$T/b.ndjson" >"$T/b.part"
mv "$T/b.ndjson" "$T/b.full"
mv "$T/b.part" "$T/b.ndjson"
o=$(imp --format ndjson b.ndjson 2>&1)
cat "$T/b.full" >"$T/b.tmp"
tail -n 200 "$T/b.tmp" >>"$T/b.ndjson"    # the file grows while the server is down
st_stop "$SPID" 20
o=$(imp --format ndjson --retries 1 b.ndjson 2>&1) && rc=0 || rc=$?
expect "server down: exit 1, the progress kept" '[ $rc = 1 ] && [[ $o == *"stopped: run again to resume"* ]]' "$rc $o"
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
o=$(imp --format ndjson b.ndjson 2>&1) && rc=0 || rc=$?
expect "the server back: the 200 new lines exactly once" \
	'[ $rc = 0 ] && [[ $o == *"200 events new, 0 already in the log"* ]] && [ "$(count "action:import.outage")" = 300 ]' "$rc $o"

# rotation: same path, other first bytes
head -n 50 "$T/b.ndjson" | sed 's/"b-/"r-/' >"$T/b.rot"
mv "$T/b.rot" "$T/b.ndjson"
o=$(imp --format ndjson b.ndjson 2>&1) && rc=0 || rc=$?
expect "a rotated file starts over" '[ $rc = 0 ] && [[ $o == *"not the file imported before"* && $o == *"50 events new"* ]]' "$rc $o"

# kube-apiserver's log backend: one Event a line, gzip
python3 - "$HERE/../vectors/k8s/eventlist.json" "$T/audit.log" <<'EOF'
import json, sys
items = json.load(open(sys.argv[1]))["items"]
with open(sys.argv[2], "w") as f:
    for e in items:
        e = dict(e, kind="Event", apiVersion="audit.k8s.io/v1")
        f.write(json.dumps(e) + "\n")
EOF
gzip -k "$T/audit.log"
o=$(imp --format k8s audit.log.gz 2>&1) && rc=0 || rc=$?
e=$(curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/events?q=action:k8s.pods.exec.create&fresh=1")
expect "a gzip kube-apiserver audit log: 6 events, mapped as the webhook maps them" \
	'[ $rc = 0 ] && [[ $o == *"6 events new"* && $e == *"\"on_behalf_of\":\"system:admin\""* && $e == *"\"outcome\":\"denied\""* ]]' "$rc $o $(head -c 400 <<<"$e")"
rm -f "$T/.sealtrail-import.state"
o=$(imp --format k8s audit.log 2>&1) && rc=0 || rc=$?
expect "the same Events from the plain file: all duplicates" '[ $rc = 0 ] && [[ $o == *"0 events new, 6 already in the log"* ]]' "$rc $o"
o=$(imp --format xml audit.log 2>&1) && rc=0 || rc=$?
o2=$(imp --format k8s "$T/missing.log" 2>&1) && rc2=0 || rc2=$?
expect "usage: an unknown format (2); a missing file named (1)" '[ $rc = 2 ] && [ $rc2 = 1 ] && [[ $o2 == *missing.log* ]]' "$rc $o / $rc2 $o2"

st_stop "$SPID" 20
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
