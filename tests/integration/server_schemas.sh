#!/usr/bin/env bash
# server_schemas.sh - the schema registry and validation on ingest, end to
# end through `sealtrail serve` (docs/SCHEMAS.md):
#
# - PUT /v1/schemas/NAME/VERSION (admin): 201 and audited; the same bytes
#   again 200 created:false; other bytes 409; a lower version 409; a
#   producer 403; a schema that does not compile 400 naming byte/pointer;
# - a backward-incompatible next version is 409 breaking_change listing
#   each change, and is accepted with ?breaking=true, audited as
#   sealtrail.schemas.publish_breaking;
# - GET /v1/schemas lists, GET one returns the bytes published;
# - an event naming "schema":"name/version" is validated: a valid one is
#   committed, an invalid one quarantined with its id and violations
#   (JSON pointer and rule), an unknown schema quarantined as
#   unknown-schema, a malformed reference refused; nothing of those is in
#   the log;
# - the quarantine (docs/QUARANTINE.md): list with filters, read one;
#   resubmit re-validates against the name's highest version: refused
#   again (422) while it still fails, committed with a seq once a
#   compatible version passes (a violation at a redacted path excused),
#   a second resubmit 409; discard, twice 409; a resubmitted entry cannot
#   be discarded; both actions audited; metrics per schema and producer;
# - the policy's `schema` binding validates events of an action that name
#   none;
# - sealtrail_schema_validations_total counts pass/fail/unknown;
# - a restart finds the registry as it was.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup schemas

D=$T/data
cat >"$T/policy.conf" <<'EOF'
detector * off
detector email on
[action deploy.**]
schema deploy/1
EOF
printf 'policy_file = %s\ncheckpoint_interval = 100ms\n' "$T/policy.conf" >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
mk() { "$ST" token create --data "$D" --role "$1" "${@:2}" 2>/dev/null | head -1; }
ADMIN=$(mk admin)
PROD=$(mk producer --tenant acme)
AUD=$(mk auditor --all-tenants)
OPS=$(mk operator)
sleep 2.2
BASE=http://127.0.0.1:$PORT

putschema() { # putschema TOKEN PATH BODY: status and body
	curl -s --max-time 10 -o "$T/r" -w '%{http_code}' -X PUT -H "Authorization: Bearer $1" \
		-H 'Content-Type: application/schema+json' --data-binary "$3" "$BASE/v1/schemas/$2"
	echo " $(cat "$T/r")"
}
V1='{"type":"object","properties":{"metadata":{"type":"object","properties":{"ticket":{"type":"string","pattern":"^SEC-[0-9]+$"}}}},"required":["metadata"]}'
V2='{"type":"object","properties":{"metadata":{"type":"object","properties":{"ticket":{"type":["string","null"]}}}},"required":["metadata"]}'
V3='{"type":"object","properties":{"metadata":{"type":"object","properties":{"ticket":{"type":"string"}},"required":["ticket","owner"]}},"required":["metadata"]}'
DEP='{"type":"object","properties":{"metadata":{"type":"object","properties":{"sha":{"type":"string","minLength":7},"by":{"type":"string","format":"email"}},"required":["sha"]}},"required":["metadata"]}'
DEP2='{"type":"object","properties":{"metadata":{"type":"object","properties":{"sha":{"type":"string","minLength":3},"by":{"type":"string","format":"email"}},"required":["sha"]}},"required":["metadata"]}'

r=$(putschema "$ADMIN" change/1 "$V1")
expect "PUT change/1 (admin): 201 created" '[[ $r == 201* && $r == *"\"created\":true"* ]]' "$r"
r=$(putschema "$ADMIN" change/1 "$V1")
expect "the same bytes again: 200 created:false" '[[ $r == 200* && $r == *"\"created\":false"* ]]' "$r"
r=$(putschema "$ADMIN" change/1 "$V2")
expect "other bytes for a published version: 409" '[[ $r == 409* && $r == *conflict* ]]' "$r"
r=$(putschema "$PROD" change/9 "$V1")
expect "a producer may not publish: 403" '[[ $r == 403* ]]' "$r"
r=$(putschema "$ADMIN" change/2 '{"type":"object","properties":{"a":{"maxLenght":3}}}')
expect "a schema that does not compile: 400 naming the pointer" '[[ $r == 400* && $r == *bad_schema* && $r == */properties/a* ]]' "$r"
r=$(putschema "$ADMIN" change/2 "$V2")
expect "a compatible next version: 201" '[[ $r == 201* ]]' "$r"
r=$(putschema "$ADMIN" change/3 "$V3")
expect "a breaking next version: 409 breaking_change listing the changes" \
	'[[ $r == 409* && $r == *breaking_change* && $r == *"\"rule\":\"required\""* ]]' "$r"
r=$(putschema "$ADMIN" "change/3?breaking=true" "$V3")
expect "with ?breaking=true: 201, marked breaking" '[[ $r == 201* && $r == *"\"breaking\":true"* ]]' "$r"
r=$(putschema "$ADMIN" change/1 "$V1")
expect "a version below the highest stays as it was (same bytes: 200)" '[[ $r == 200* ]]' "$r"
r=$(putschema "$ADMIN" deploy/1 "$DEP")
list=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas")
expect "GET /v1/schemas lists every version (any role that reads the log)" \
	'[[ $list == *"\"ref\":\"change/1\""* && $list == *"\"ref\":\"change/3\""*"\"breaking\":true"* && $list == *"\"ref\":\"deploy/1\""* ]]' "$list"
got=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas/change/2")
expect "GET one returns the bytes published" '[ "$got" = "$V2" ]' "$got"

# the command
printf '%s\n' "$ADMIN" >"$T/admin.tok"
printf '{"type":"object"}' >"$T/ci.json"
o=$("$ST" schema put --url "$BASE" --token-file "$T/admin.tok" ci-event/1 "$T/ci.json" 2>&1) && crc=0 || crc=$?
expect "sealtrail schema put publishes (exit 0)" '[ $crc = 0 ] && [[ $o == *"\"created\":true"* ]]' "$crc $o"
o=$("$ST" schema get --url "$BASE" --token-file "$T/admin.tok" ci-event/1 2>&1) && crc=0 || crc=$?
expect "sealtrail schema get prints the bytes" '[ $crc = 0 ] && [ "$o" = "{\"type\":\"object\"}" ]' "$crc $o"
printf '{"type":"object","required":["x"]}' >"$T/ci2.json"
o=$("$ST" schema put --url "$BASE" --token-file "$T/admin.tok" ci-event/2 "$T/ci2.json" 2>&1) && crc=0 || crc=$?
expect "sealtrail schema put of a breaking version exits 1 with the changes" '[ $crc = 1 ] && [[ $o == *409*breaking_change* ]]' "$crc $o"
o=$("$ST" schema put --url "$BASE" --token-file "$T/admin.tok" --breaking ci-event/2 "$T/ci2.json" 2>&1) && crc=0 || crc=$?
expect "and with --breaking it is published" '[ $crc = 0 ] && [[ $o == *"\"breaking\":true"* ]]' "$crc $o"
o=$("$ST" schema list --url "$BASE" --token-file "$T/admin.tok" 2>&1) && crc=0 || crc=$?
expect "sealtrail schema list shows them" '[ $crc = 0 ] && [[ $o == *"ci-event/2"* ]]' "$crc $o"
o=$("$ST" schema put --url "$BASE" ci-event 2>&1) && crc=0 || crc=$?
expect "a malformed reference is a usage error (exit 2)" '[ $crc = 2 ]' "$crc $o"
list=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas")

post() {
	curl -s --max-time 10 -X POST -H "Authorization: Bearer $PROD" -H 'Content-Type: application/x-ndjson' \
		--data-binary "$1" "$BASE/v1/events"
}
ev() { # ev ACTION EXTRA
	printf '{"time":"2026-11-28T10:00:00Z","action":"%s","tenant":"acme","actor":{"id":"u"},"resource":{"type":"t"}%s}\n' "$1" "$2"
}
r=$(post "$(ev change.apply ',"schema":"change/1","metadata":{"ticket":"SEC-12"}')
$(ev change.apply ',"schema":"change/1","metadata":{"ticket":"nope","by":"q.person.77@example.com"}')
$(ev change.apply ',"schema":"change/7","metadata":{}')
$(ev change.apply ',"schema":"Change","metadata":{}')
$(ev deploy.run ',"metadata":{"sha":"abc","by":"q.person.77@example.com"}')
$(ev deploy.run ',"metadata":{"sha":"abcdef0123"}')")
check_results() {
	python3 -c '
import json,sys
r=json.loads(sys.argv[1])["results"]
codes=[x.get("error",{}).get("code","ok") for x in r]
want=["ok","schema_violation","schema_violation","schema_violation","schema_violation","ok"]
assert codes==want, codes
assert [bool(x.get("quarantined")) for x in r]==[False,True,True,False,True,False], r
assert [r[i]["quarantine_id"] for i in (1,2,4)]==[1,2,3], r
assert json.loads(sys.argv[1])["quarantined"]==3
e=r[1]["error"]; assert e["field"]=="/metadata/ticket" and "pattern" in e["message"] and "nope" not in e["message"], e
assert e["violations"]==[{"pointer":"/metadata/ticket","rule":"pattern","message":e["violations"][0]["message"]}], e
v=r[2]["error"]["violations"]; assert v[0]["rule"]=="unknown-schema" and v[0]["pointer"]=="/schema", v
assert "quarantined" not in r[3] and "expected name/version" in r[3]["error"]["message"], r[3]
assert r[4]["error"]["field"]=="/metadata/sha" and "minLength" in r[4]["error"]["message"], r[4]
' "$1"
}
expect "per event: valid committed; schema failures and an unknown schema quarantined with ids and violations (pointer, rule, no value); a malformed ref refused; the policy binding applied" \
	'check_results "$r"' "$r"
sleep 0.3
acme=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=acme&limit=100" |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')
expect "only the 2 valid events reached the log" '[ "$acme" = 2 ]' "$acme"
r=$(curl -s --max-time 10 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $PROD" "$BASE/v1/schemas/change")
r2=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas/change")
expect "GET /v1/schemas/change lists its versions only" '[ "$r" = 200 ] && [[ $r2 == *"change/3"* && $r2 != *deploy* ]]' "$r $r2"
# the quarantine, for admins
qget() { curl -s --max-time 10 -o "$T/q" -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE$2"; echo " $(cat "$T/q")"; }
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme")
expect "GET /v1/quarantine lists the 3 pending entries with violations, redacted (the email masked)" \
	'python3 -c "
import json,sys
e=json.loads(sys.argv[1].split(\" \",1)[1])[\"entries\"]
assert [x[\"id\"] for x in e]==[1,2,3] and all(x[\"state\"]==\"pending\" for x in e), e
assert e[0][\"schema\"]==\"change/1\" and e[0][\"violations\"][0][\"rule\"]==\"pattern\", e[0]
assert e[1][\"schema\"]==\"change/7\" and e[1][\"violations\"][0][\"rule\"]==\"unknown-schema\", e[1]
assert e[2][\"schema\"]==\"deploy/1\" and e[0][\"producer\"] and e[0][\"event\"][\"metadata\"][\"ticket\"]==\"nope\", e
assert \"q.person.77@example.com\" not in sys.argv[1] and e[0][\"event\"][\"redacted\" if False else \"metadata\"][\"by\"].startswith(\"*\"), e[0]
" "$r"' "$r"
r=$(qget "$PROD" "/v1/quarantine?tenant=acme")
expect "a producer may not read it (403)" '[[ $r == 403* ]]' "$r"
r=$(qget "$ADMIN" "/v1/quarantine/3")
expect "GET /v1/quarantine/3: the entry" '[[ $r == 200* && $r == *"\"schema\":\"deploy/1\""* ]]' "$r"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&schema=deploy/1")
expect "?schema= filters the list" '[[ $r == 200* && $r == *"\"id\":3"* && $r != *"\"id\":1,"* ]]' "$r"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&producer=nobody")
expect "?producer= filters the list" '[[ $r == "200 {\"entries\":[]}" ]]' "$r"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&limit=1")
expect "a page ends with next_cursor, which resumes after it" '[[ $r == *"\"id\":1"*"\"next_cursor\":\"1\""* ]]' "$r"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&limit=1&cursor=1")
expect "... the next page" '[[ $r == *"\"id\":2"*"\"next_cursor\":\"2\""* ]]' "$r"
qpost() { curl -s --max-time 10 -w ' %{http_code}' -X POST -H "Authorization: Bearer $1" "$BASE/v1/quarantine/$2"; }
r=$(qpost "$PROD" 3/resubmit)
expect "a producer may not resubmit (403)" '[[ $r == *" 403" ]]' "$r"
r=$(qpost "$ADMIN" 1/resubmit)
expect "resubmit of entry 1: refused again (422) by the highest version change/3, with its violations" \
	'[[ $r == *" 422" && $r == *"\"schema\":\"change/3\""* && $r == *"\"pointer\":\"/metadata/owner\",\"rule\":\"required\""* ]]' "$r"
r=$(qpost "$ADMIN" 3/resubmit)
expect "resubmit of entry 3 before deploy/2 exists: 422 minLength" '[[ $r == *" 422" && $r == *minLength* ]]' "$r"
r=$(putschema "$ADMIN" deploy/2 "$DEP2")
expect "PUT deploy/2, compatible (minLength relaxed): 201" '[[ $r == 201* ]]' "$r"
r=$(qpost "$ADMIN" 3/resubmit)
expect "resubmit of entry 3: committed with a seq against deploy/2; the masked email's format violation excused" \
	'python3 -c "
import json,sys
b,st=sys.argv[1].rsplit(\" \",1); j=json.loads(b)
assert st==\"200\" and j[\"state\"]==\"resubmitted\" and j[\"seq\"]>0 and j[\"schema\"]==\"deploy/2\", j
assert [x[\"pointer\"] for x in j[\"excused\"]]==[\"/metadata/by\"] and j[\"excused\"][0][\"rule\"]==\"format\", j
" "$r"' "$r"
SEQ=$(printf '%s' "${r% *}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["seq"])')
r2=$(qpost "$ADMIN" 3/resubmit)
expect "a second resubmit: 409 already resubmitted (seq)" '[[ $r2 == *"already resubmitted (seq $SEQ)"*" 409" ]]' "$r2"
r2=$(qpost "$ADMIN" 3/discard)
expect "a resubmitted entry cannot be discarded (409)" '[[ $r2 == *"already resubmitted"*" 409" ]]' "$r2"
e=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events/$SEQ")
expect "the committed event: the producer's, redacted, with its redacted list, tenant acme" \
	'[[ $e == *"\"sha\":\"abc\""* && $e == *"\"redacted\":["*"metadata.by"* && $e == *"\"tenant\":\"acme\""* && $e != *q.person.77@example.com* ]]' "$e"
r=$(qpost "$ADMIN" 2/discard)
r2=$(qpost "$ADMIN" 2/discard)
expect "discard: 200, then 409 already discarded" '[[ $r == *discarded*" 200" && $r2 == *"already discarded"*" 409" ]]' "$r / $r2"
r2=$(qpost "$ADMIN" 2/resubmit)
expect "a discarded entry cannot be resubmitted (409)" '[[ $r2 == *"already discarded"*" 409" ]]' "$r2"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&state=all")
expect "state=all shows pending, discarded and resubmitted (with its seq)" \
	'[[ $r == *"\"state\":\"pending\""*"\"state\":\"discarded\""*"\"state\":\"resubmitted\",\"seq\":$SEQ,"* ]]' "$r"
m=$(curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/metrics")
mp=$(printf '%s\n' "$m" | awk '$1=="sealtrail_schema_validations_total{result=\"pass\"}" {print $2}')
mf=$(printf '%s\n' "$m" | awk '$1=="sealtrail_schema_validations_total{result=\"fail\"}" {print $2}')
mu=$(printf '%s\n' "$m" | awk '$1=="sealtrail_schema_validations_total{result=\"unknown\"}" {print $2}')
mq=$(printf '%s\n' "$m" | awk '$1=="sealtrail_quarantine_entries{state=\"pending\"}" {print $2}')
expect "metrics: 2 pass, 2 fail, 2 unknown; 1 entry pending" '[ "$mp" = 2 ] && [ "$mf" = 2 ] && [ "$mu" = 2 ] && [ "$mq" = 1 ]' "$mp $mf $mu $mq"
dp=$(printf '%s\n' "$m" | grep -c '^sealtrail_schema_checks_total{schema="deploy/1",producer="[^"]*",result="fail"} 1$' || true)
cp=$(printf '%s\n' "$m" | grep -c '^sealtrail_schema_checks_total{schema="change/1",producer="[^"]*",result="pass"} 1$' || true)
cu=$(printf '%s\n' "$m" | grep -c '^sealtrail_schema_checks_total{schema="change/7",producer="[^"]*",result="unknown"} 1$' || true)
rs=$(printf '%s\n' "$m" | awk '$1=="sealtrail_quarantine_resubmits_total{result=\"committed\"}" {print $2}')
rr=$(printf '%s\n' "$m" | awk '$1=="sealtrail_quarantine_resubmits_total{result=\"refused\"}" {print $2}')
expect "metrics: checks by schema and producer; resubmits 1 committed, 2 refused" \
	'[ "$dp" = 1 ] && [ "$cp" = 1 ] && [ "$cu" = 1 ] && [ "$rs" = 1 ] && [ "$rr" = 2 ]' "$dp $cp $cu $rs $rr"
audit=""
for _ in $(seq 1 25); do
	audit=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=_sealtrail&limit=1000")
	[[ $audit == *sealtrail.schemas.publish_breaking* && $audit == *sealtrail.quarantine.discard* && $audit == *sealtrail.quarantine.resubmit* ]] && break
	sleep 0.2
done
expect "publishes are audited, the breaking one as its own action" \
	'[[ $audit == *"\"sealtrail.schemas.publish\""* && $audit == *sealtrail.schemas.publish_breaking* ]]' "$(printf '%s' "$audit" | head -c 600)"
expect "resubmits (success and refusals, with the seq) and discards are audited" \
	'[[ $audit == *"\"sealtrail.quarantine.discard\""* && $audit == *"committed at seq $SEQ against schema deploy/2"* && $audit == *"refused again by schema change/3"* ]]' "$(printf '%s' "$audit" | head -c 600)"

list=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas")
st_stop "$SPID" 20
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
list2=$(curl -s --max-time 10 -H "Authorization: Bearer $PROD" "$BASE/v1/schemas")
expect "a restart finds the registry as it was" '[ "$list2" = "$list" ]' "$list2"
r=$(qget "$ADMIN" "/v1/quarantine?tenant=acme&state=all")
expect "and the quarantine with its states and the resubmit's seq" \
	'[[ $r == *"\"state\":\"pending\",\"k\":\"e\",\"id\":1,"*"\"state\":\"discarded\",\"k\":\"e\",\"id\":2,"*"\"state\":\"resubmitted\",\"seq\":$SEQ,\"k\":\"e\",\"id\":3,"* ]]' "$r"
r=$(qpost "$ADMIN" 3/resubmit)
expect "after the restart a resubmit is still refused (409)" '[[ $r == *" 409" ]]' "$r"
# the same through the CLI
qcli() { "$ST" quarantine "$@" --url "$BASE" --token-file "$T/admin.tok" 2>&1; }
o=$(qcli list --tenant acme --state all --schema deploy/1) && crc=0 || crc=$?
expect "sealtrail quarantine list --schema deploy/1 --state all: entry 3 only, resubmitted (exit 0)" \
	'[ $crc = 0 ] && [[ $o == *"\"state\":\"resubmitted\",\"seq\":$SEQ,\"k\":\"e\",\"id\":3,"* && $o != *"\"id\":1,"* && $o != *"\"id\":2,"* ]]' "$crc $o"
o=$(qcli get 1) && crc=0 || crc=$?
expect "sealtrail quarantine get 1: the pending entry with its violations" \
	'[ $crc = 0 ] && [[ $o == *"\"state\":\"pending\""*"\"violations\":["* ]]' "$crc $o"
o=$(qcli resubmit 1) && crc=0 || crc=$?
expect "sealtrail quarantine resubmit 1: exit 1 with the 422 and what still fails" \
	'[ $crc = 1 ] && [[ $o == *"answered 422"*"/metadata/owner"* ]]' "$crc $o"
o=$(qcli discard 1) && crc=0 || crc=$?
o2=$(qcli discard 1) && crc2=0 || crc2=$?
expect "sealtrail quarantine discard 1: exit 0, then exit 1 with 409" \
	'[ $crc = 0 ] && [[ $o == *discarded* ]] && [ $crc2 = 1 ] && [[ $o2 == *"answered 409"* ]]' "$crc $o / $crc2 $o2"
o=$(qcli get 0) && crc=0 || crc=$?
o2=$(qcli list --tenant acme --cursor x) && crc2=0 || crc2=$?
expect "bad input: id 0 is a usage error (2); a bad cursor the server's 400 (1)" \
	'[ $crc = 2 ] && [ $crc2 = 1 ] && [[ $o2 == *"answered 400"*cursor* ]]' "$crc $o / $crc2 $o2"
st_stop "$SPID" 20
expect "the masked email appears nowhere in the data directory" '! grep -r -a -q -F "q.person.77@example.com" "$D"'

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
