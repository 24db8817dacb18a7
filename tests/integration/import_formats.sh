#!/usr/bin/env bash
# import_formats.sh - `sealtrail import --format cloudtrail|auditd`
# (docs/IMPORT.md) against a real server:
#
# - CloudTrail: a gzip log file of 1,205 records (the golden vector's 8
#   mappable records and 1,197 generated) in batches of 500: all in the
#   log, mapped (actor, resource, outcome denied, metadata); a second run
#   sends nothing (the file is done by size and SHA-256); without the
#   state file every event is a duplicate; a record that is no event is
#   named by Records[i] and byte, the rest imported; a file that is not a
#   CloudTrail file is named, nothing sent; with the server down the
#   file is not marked done, and the next run imports it;
# - auditd: a log imported; lines appended are imported on the next run
#   exactly once; an event cut in the middle (no EOE yet) waits, and is
#   imported whole, once, when the rest is appended; a malformed line is
#   named FILE:LINE: byte B; a gzip log ends its open events (the file
#   will not grow), as does --final; without the state file, all
#   duplicates.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup import_formats

D=$T/data
printf 'checkpoint_interval = 100ms\n' >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
"$ST" token create --data "$D" --role producer --tenant acme 2>/dev/null | head -1 >"$T/prod.tok"
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT
search() { # search QUERY: the events (JSON) matching, the index caught up
	curl -s --max-time 20 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=$1" --data-urlencode fresh=1 \
		--data-urlencode limit=100 "$BASE/v1/events"
}
count() { # count QUERY: how many events match
	search "$1" >/dev/null
	curl -s --max-time 20 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=$1" \
		--data-urlencode by=action "$BASE/v1/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin).get("total", 0))'
}
imp() { # imp ARGS...: runs import from $T (the default state file there)
	(cd "$T" && "$ST" import --url "$BASE" --token-file "$T/prod.tok" "$@")
}

# ---- CloudTrail ----
python3 - "$HERE/../vectors/cloudtrail/records.json" "$T/ct.json" <<'EOF2'
import json, sys
recs = [r for r in json.load(open(sys.argv[1]))["Records"] if isinstance(r, dict) and r["eventTime"] != "yesterday"]
for i in range(1197):
    recs.append({"eventVersion": "1.09", "eventID": "gen-%05d" % i, "eventTime": "2026-11-28T12:%02d:%02dZ" % (i // 60 % 60, i % 60),
                 "eventSource": "s3.amazonaws.com", "eventName": "PutObject", "awsRegion": "us-east-1",
                 "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/u%d" % (i % 7), "userName": "u%d" % (i % 7)},
                 "sourceIPAddress": "192.0.2.%d" % (i % 250), "requestParameters": {"bucketName": "logs", "key": "k/%d" % i},
                 "requestID": "req-%d" % i, "readOnly": False, "eventType": "AwsApiCall", "managementEvent": False,
                 "recipientAccountId": "111122223333", "eventCategory": "Data"})
json.dump({"Records": recs}, open(sys.argv[2], "w"))
EOF2
gzip "$T/ct.json"
o=$(imp --format cloudtrail --batch 500 ct.json.gz 2>&1) && rc=0 || rc=$?
expect "a gzip CloudTrail file of 1,205 records: 1,205 events new, done" \
	'[ $rc = 0 ] && [[ $o == *"ct.json.gz: 1205 events new, 0 already in the log, 0 refused; done"* ]]' "$rc $o"
expect "... all in the log" '[ "$(count "source.format:aws-cloudtrail")" = 1205 ]'
e=$(search 'action:aws.s3.GetObject')
expect "an assumed role's denied GetObject: actor, session issuer, resource ARN, outcome, request_id" \
	'[[ $e == *"\"actor\":{\"id\":\"arn:aws:sts::111122223333:assumed-role/DataReader/carol@example.com\",\"type\":\"role_session\""* &&
	   $e == *"\"session_issuer\":{\"type\":\"Role\""* && $e == *"\"id\":\"arn:aws:s3:::payroll-2026/q4/salaries.csv\""* &&
	   $e == *"\"outcome\":\"denied\""* && $e == *"\"request_id\":\"EXAMPLE8XJ2Q7T1Z\""* && $e == *"\"id\":\"ct-6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d\""* ]]' \
	"$(head -c 600 <<<"$e")"
expect "outcomes: 2 denied, 2 failure (an errorCode, a failed console sign-in)" \
	'[ "$(count "source.format:aws-cloudtrail outcome:denied")" = 2 ] && [ "$(count "source.format:aws-cloudtrail outcome:failure")" = 2 ]'
expect "a service's call: actor is the service (invokedBy)" \
	'[ "$(count "action:aws.sts.AssumeRole actor.type:service actor.id:lambda.amazonaws.com")" = 1 ]'
o=$(imp --format cloudtrail ct.json.gz 2>&1) && rc=0 || rc=$?
expect "a second run sends nothing (done by size and SHA-256)" \
	'[ $rc = 0 ] && [[ $o == *"0 events new, 0 already in the log, 0 refused; imported before"* ]]' "$rc $o"
mv "$T/.sealtrail-import.state" "$T/state.ct"
o=$(imp --format cloudtrail --batch 1000 ct.json.gz 2>&1) && rc=0 || rc=$?
expect "without the state file: every event a duplicate, none a copy" \
	'[ $rc = 0 ] && [[ $o == *"0 events new, 1205 already in the log, 0 refused; done"* ]] && [ "$(count "source.format:aws-cloudtrail")" = 1205 ]' "$rc $o"
cp "$HERE/../vectors/cloudtrail/records.json" "$T/bad.json"
o=$(imp --format cloudtrail bad.json 2>&1) && rc=0 || rc=$?
expect "records that are no events: named by Records[i] and byte, exit 1, the rest duplicates" \
	'[ $rc = 1 ] && [[ $o == *"bad.json: byte 8565: Records[8]: expected a record object"* &&
	   $o == *"bad.json: byte 8588: Records[9].eventTime: expected an RFC 3339 time"* && $o == *"0 events new, 8 already in the log, 2 refused; done"* ]]' "$rc $o"
printf '{"awsAccountId":"111122223333","logFiles":[]}' >"$T/digest.json"
printf '{"Records":[{"eventTime":"2026-11-28T00:00:00Z"}' >"$T/cut.json"
o=$(imp --format cloudtrail digest.json cut.json 2>&1) && rc=0 || rc=$?
expect "not a CloudTrail file, a cut file: each named with its byte, nothing sent" \
	'[ $rc = 1 ] && [[ $o == *"digest.json: byte 0: expected a CloudTrail log file"* && $o == *"cut.json: byte 48: "* &&
	   $o == *"total: 0 events new"* ]]' "$rc $o"

# ---- auditd ----
V=$HERE/../vectors/auditd/audit.log
head -n 14 "$V" >"$T/audit.log"        # events 4567, 4570, 4580: each complete
o=$(imp --format auditd audit.log 2>&1) && rc=0 || rc=$?
expect "an audit log: 3 events" '[ $rc = 0 ] && [[ $o == *"audit.log: 3 events new, 0 already in the log, 0 refused"* ]]' "$rc $o"
e=$(search 'action:auditd.user_login')
expect "a failed ssh login: the account, the address, failure" \
	'[[ $e == *"\"actor\":{\"id\":\"bob\",\"type\":\"user\",\"ip\":\"203.0.113.7\""* && $e == *"\"outcome\":\"failure\""* &&
	   $e == *"\"id\":\"auditd-1764321310.500:4570\""* ]]' "$(head -c 600 <<<"$e")"
expect "an AVC denial, outcome denied" '[ "$(count "action:auditd.avc outcome:denied")" = 1 ]'
# appended: the ENRICHED events, the interleaved pair, a malformed line, and half of an event
sed -n '15,29p' "$V" >>"$T/audit.log"
printf '%s\n' 'type=SYSCALL msg=audit(1764321370.000:4630): arch=c000003e syscall=82 success=yes exit=0 items=4 ppid=1 pid=2900 auid=1000 uid=1000 tty=pts0 ses=3 comm="mv" exe="/usr/bin/mv" key="rename"' \
	'type=CWD msg=audit(1764321370.000:4630): cwd="/srv"' >>"$T/audit.log"
o=$(imp --format auditd audit.log 2>&1) && rc=0 || rc=$?
expect "appended lines: only the 4 new events, the malformed line named FILE:LINE: byte, the cut event waits" \
	'[ $rc = 1 ] && [[ $o == *"audit.log:29: byte 0: expected type=TYPE"* && $o == *"audit.log: 4 events new, 0 already in the log, 1 refused"* &&
	   $o == *"1 events without their end (EOE) yet"* ]] && [ "$(count "source.format:linux-audit")" = 7 ]' "$rc $o"
o=$(imp --format auditd audit.log 2>&1) && rc=0 || rc=$?
expect "nothing appended: nothing sent, the cut event still waits" \
	'[ $rc = 0 ] && [[ $o == *"audit.log: 0 events new, 0 already in the log, 0 refused"* && $o == *"events without their end"* ]]' "$rc $o"
printf '%s\n' 'type=PATH msg=audit(1764321370.000:4630): item=0 name="a.txt" nametype=DELETE' \
	'type=PROCTITLE msg=audit(1764321370.000:4630): proctitle=6D7600612E74787400622E747874' \
	'type=EOE msg=audit(1764321370.000:4630): ' >>"$T/audit.log"
o=$(imp --format auditd audit.log 2>&1) && rc=0 || rc=$?
e=$(search 'action:auditd.syscall.rename')
expect "the rest of the cut event appended: imported once, whole (its CWD from the earlier run, its PROCTITLE)" \
	'[ $rc = 0 ] && [[ $o == *"audit.log: 1 events new, 0 already in the log, 0 refused"* && $e == *"\"proctitle\":\"mv a.txt b.txt\""* &&
	   $e == *"\"id\":\"/srv/a.txt\""* ]] && [ "$(count "action:auditd.syscall.rename")" = 1 ]' "$rc $o $(head -c 400 <<<"$e")"
mv "$T/.sealtrail-import.state" "$T/state.au"
o=$(imp --format auditd audit.log 2>&1) && rc=0 || rc=$?
expect "without the state file: all 8 duplicates" \
	'[[ $o == *"audit.log: 0 events new, 8 already in the log, 1 refused"* ]] && [ "$(count "source.format:linux-audit")" = 8 ]' "$rc $o"
# a rotated, gzip-compressed log ends its open events: it will not grow
sed -n '30,33p' "$V" | gzip >"$T/audit.log.1.gz"
o=$(imp --format auditd audit.log.1.gz 2>&1) && rc=0 || rc=$?
expect "a gzip log: the event without EOE imported at its end (metadata.ended eof), the bad lines named" \
	'[ $rc = 1 ] && [[ $o == *"audit.log.1.gz:1: byte 33: "* && $o == *"1 events new, 0 already in the log, 2 refused"* ]] &&
	 [ "$(count "action:auditd.syscall.chmod metadata.ended:eof")" = 1 ]' "$rc $o"
printf '%s\n' 'type=SYSCALL msg=audit(1764321380.000:4640): arch=c000003e syscall=2 success=yes exit=3 auid=1000 uid=1000 comm="vi" exe="/usr/bin/vi"' >"$T/audit.log.2"
o=$(imp --format auditd audit.log.2 2>&1)
o2=$(imp --format auditd --final audit.log.2 2>&1) && rc=0 || rc=$?
expect "a plain log: an open event waits; with --final it is imported as it is" \
	'[[ $o == *"0 events new"* && $o2 == *"1 events new"* ]] && [ $rc = 0 ]' "$o / $rc $o2"

# a CloudTrail file the server could not take is not marked done: the next run sends it
python3 - "$T/late.json" <<'EOF2'
import json, sys
json.dump({"Records": [{"eventID": "late-%d" % i, "eventTime": "2026-11-28T13:00:0%dZ" % i, "eventSource": "iam.amazonaws.com",
                        "eventName": "ListUsers", "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/x"}} for i in range(3)]},
          open(sys.argv[1], "w"))
EOF2
st_stop "$SPID" 20
o=$(imp --format cloudtrail --retries 0 late.json 2>&1) && rc=0 || rc=$?
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
o2=$(imp --format cloudtrail late.json 2>&1) && rc2=0 || rc2=$?
expect "the server down: the file not done (exit 1); the server back: imported, then done" \
	'[ $rc = 1 ] && [[ $o == *"late.json: 0 events new, 0 already in the log, 0 refused; not done (stopped: run again to resume)"* ]] &&
	 [ $rc2 = 0 ] && [[ $o2 == *"late.json: 3 events new, 0 already in the log, 0 refused; done"* ]]' "$rc $o / $rc2 $o2"

st_stop "$SPID" 20
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
