#!/usr/bin/env bash
# emit.sh - `sealtrail emit` (src/cli/cmd_emit.c), built on libsealtrail,
# against a real server:
#
# - one event from flags: stored with what the flags said, the library's
#   producer id and seq in source;
# - one event from --json; 500 from stdin, all stored, in order;
# - a bad stdin line is named by its line, the others still sent, exit 1;
# - the server down: exit 1 within the timeout, the event kept in the
#   spool; the server back, the next emit sends it first, then its own;
# - --wait-checkpoint: a receipt per event whose proof verifies offline;
# - an event for a tenant outside the token's scope: the server's refusal
#   printed, exit 1;
# - TLS: an untrusted certificate sends nothing (kept), --cacert sends;
# - usage errors (no action, two sources, a bad --resource/--meta): 2.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup emit

D=$T/data
printf 'checkpoint_interval = 100ms\n' >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
"$ST" token create --data "$D" --role producer --tenant acme 2>/dev/null | head -1 >"$T/prod.tok"
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
BASE=http://127.0.0.1:$PORT
SP=$T/spool
em() { "$ST" emit --url "$BASE" --token-file "$T/prod.tok" --spool "$SP" "$@"; }
get() { # get QUERY: the matching events' entries as JSON lines, in seq order
	curl -s --max-time 20 -G -H "Authorization: Bearer $AUD" --data-urlencode "q=$1" --data-urlencode fresh=1 \
		--data-urlencode sort=seq --data-urlencode limit=1000 "$BASE/v1/events" |
		python3 -c 'import json,sys
d = json.load(sys.stdin)
if "events" not in d: sys.exit("the search answered %s" % d)
for e in d["events"]: print(json.dumps(e["entry"], sort_keys=True))'
}

o=$(em --action deploy.start --actor alice@example.com --actor-type user --resource service:billing \
	--outcome success --meta version=1.4.2 --meta "note=a \"quoted\" word" 2>&1) && rc=0 || rc=$?
e=$(get 'action:deploy.start')
expect "flags: one event stored, exit 0" '[ $rc = 0 ] && [ "$(echo "$e" | wc -l)" = 1 ]' "$rc $o / $e"
expect "flags: the fields as given, and the library's producer id and seq" 'python3 -c "
import json,sys; e=json.loads(sys.argv[1])
assert e[\"actor\"][\"id\"]==\"alice@example.com\" and e[\"actor\"][\"type\"]==\"user\", e
assert e[\"resource\"]=={\"type\":\"service\",\"id\":\"billing\"} and e[\"outcome\"]==\"success\", e
assert e[\"metadata\"][\"version\"]==\"1.4.2\" and e[\"metadata\"][\"note\"]==\"a \\\"quoted\\\" word\", e
assert e[\"source\"][\"producer_seq\"]==1 and e[\"source\"][\"producer_id\"], e
assert e[\"tenant\"]==\"acme\", e" "$e"' "$e"

o=$(em --json '{"time":"2026-11-29T10:00:00Z","action":"deploy.finish","actor":{"id":"bob"},"resource":{"type":"service","id":"billing"},"metadata":{"k":1}}' 2>&1) && rc=0 || rc=$?
e=$(get 'action:deploy.finish')
expect "--json: stored, seq 2 of the same spool" \
	'[ $rc = 0 ] && python3 -c "import json,sys; e=json.loads(sys.argv[1]); assert e[\"source\"][\"producer_seq\"]==2, e" "$e"' "$rc $o / $e"

python3 -c '
import json
for i in range(1, 501):
    print(json.dumps({"time": "2026-11-29T10:00:00Z", "action": "batch.item", "actor": {"id": "svc"},
                      "resource": {"type": "queue", "id": "q1"}, "metadata": {"i": i}}))' >"$T/in.ndjson"
o=$(em - <"$T/in.ndjson" 2>&1) && rc=0 || rc=$?
get 'action:batch.item' >"$T/batch.out"
expect "stdin: 500 events stored, in order" '[ $rc = 0 ] && python3 -c "
import json,sys; es=[json.loads(l) for l in open(sys.argv[1])]
assert [x[\"metadata\"][\"i\"] for x in es]==list(range(1,501)), len(es)
s=[x[\"source\"][\"producer_seq\"] for x in es]; assert s==sorted(s) and len(set(s))==500" "$T/batch.out"' "$rc $o"

B='"time":"2026-11-29T10:00:00Z","action":"bad.lines","actor":{"id":"svc"},"resource":{"type":"queue","id":"q1"}'
printf '{%s,"metadata":{"i":1}}\nnot json\n\n{%s,"metadata":{"i":2}}\n{"action":"bad.lines"}\n' "$B" "$B" >"$T/bad.ndjson"
o=$(em - <"$T/bad.ndjson" 2>&1) && rc=0 || rc=$?
expect "stdin: a line that is not an object is named (line 2), exit 1, the others sent" \
	'[ $rc = 1 ] && [[ $o == *"stdin:2: not a JSON object"* ]] && [ "$(get action:bad.lines | wc -l)" = 2 ]' "$rc $o"
expect "stdin: an event the server refuses is named with its field" \
	'[[ $o == *"refused event"*"time: required field is missing"* ]]' "$o"

# the server down: the event waits in the spool
st_stop "$SPID" 20
o=$(em --timeout 2s --action outage.kept --actor carol --resource svc:a 2>&1) && rc=0 || rc=$?
expect "server down: exit 1 after the timeout, the event left in the spool" \
	'[ $rc = 1 ] && [[ $o == *"stays in $SP for the next run"* ]]' "$rc $o"
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
o=$(em --action outage.after --actor carol --resource svc:a 2>&1) && rc=0 || rc=$?
e=$(get 'actor.id:carol')
expect "server back: the next emit sends the kept event first, then its own, once each" \
	'[ $rc = 0 ] && python3 -c "
import json,sys; es=[json.loads(l) for l in sys.argv[1].splitlines()]
assert [x[\"action\"] for x in es]==[\"outage.kept\",\"outage.after\"], es" "$e"' "$rc $o / $e"

em --wait-checkpoint --action receipt.wanted --actor dave --resource svc:a >"$T/receipts" 2>"$T/receipts.err" && rc=0 || rc=$?
VKEY=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["keys"][0]["vkey"])')
python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readline()); open(sys.argv[2],"w").write(r["proof"]); print(r["leaf_hash"])' \
	"$T/receipts" "$T/receipt.proof" >"$T/receipt.leaf" 2>&1 || true
expect "--wait-checkpoint: a receipt on stdout whose tlog-proof verifies offline (RFC 6962, Ed25519)" \
	'[ $rc = 0 ] && [ "$(wc -l <"$T/receipts")" = 1 ] && python3 "$HERE/lib/tlogcheck.py" inclusion "$T/receipt.proof" "$(cat "$T/receipt.leaf")" "$VKEY"' \
	"$rc $(cat "$T/receipts" "$T/receipts.err" "$T/receipt.leaf")"

o=$(em --action other.tenant --actor x --resource svc:a --tenant globex 2>&1) && rc=0 || rc=$?
expect "a tenant outside the token's scope: the server's refusal printed, exit 1" \
	'[ $rc = 1 ] && [[ $o == *"refused event"*"globex"* ]]' "$rc $o"

o=$(em --actor x 2>&1) && rc=0 || rc=$?
expect "usage: flags without --action (2)" '[ $rc = 2 ] && [[ $o == *"--action is required"* ]]' "$rc $o"
o=$(em --action a --json '{}' 2>&1) && rc=0 || rc=$?
expect "usage: two sources (2)" '[ $rc = 2 ] && [[ $o == *"exactly one of"* ]]' "$rc $o"
o=$(em --action a --resource nocolon 2>&1) && rc=0 || rc=$?
expect "usage: --resource without TYPE:ID (2)" '[ $rc = 2 ] && [[ $o == *"expected TYPE:ID"* ]]' "$rc $o"
o=$(em --action a --meta novalue 2>&1) && rc=0 || rc=$?
expect "usage: --meta without = (2)" '[ $rc = 2 ] && [[ $o == *"expected KEY=VALUE"* ]]' "$rc $o"
o=$(em --json '[1]' 2>&1) && rc=0 || rc=$?
expect "usage: --json that is not an object (2)" '[ $rc = 2 ] && [[ $o == *"not a JSON object"* ]]' "$rc $o"

# TLS: a listener with a certificate made here (never a committed key)
st_stop "$SPID" 20
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" >"$T/tls/out" 2>&1
TLSPORT=$(st_free_port)
printf 'checkpoint_interval = 100ms\nlisten_tls = 127.0.0.1:%s\ntls_cert = %s\ntls_key = %s\n' \
	"$TLSPORT" "$T/tls/cert.pem" "$T/tls/key.pem" >"$T/tls.conf"
"$ST" serve --data "$D" --config "$T/tls.conf" >"$T/s3.out" 2>"$T/s3.err" &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 1 200); do grep -q '^Serving on' "$T/s3.out" 2>/dev/null && break; sleep 0.05; done
TSP=$T/tls-spool
o=$("$ST" emit --url "https://127.0.0.1:$TLSPORT" --token-file "$T/prod.tok" --spool "$TSP" --timeout 3s \
	--action tls.untrusted --actor erin --resource svc:a 2>&1) && rc=0 || rc=$?
expect "TLS: a server certificate the client does not trust: nothing sent, exit 1, the event kept" \
	'[ $rc = 1 ] && [[ $o == *"stays in"* ]]' "$rc $o"
o=$("$ST" emit --url "https://127.0.0.1:$TLSPORT" --token-file "$T/prod.tok" --spool "$TSP" --cacert "$T/tls/cert.pem" \
	--action tls.trusted --actor erin --resource svc:a 2>&1) && rc=0 || rc=$?
n=$(curl -s --max-time 20 --cacert "$T/tls/cert.pem" -G -H "Authorization: Bearer $AUD" --data-urlencode "q=actor.id:erin" \
	--data-urlencode fresh=1 "https://127.0.0.1:$TLSPORT/v1/events" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))' 2>&1) || true
expect "TLS: with --cacert both events arrive (the kept one first)" '[ $rc = 0 ] && [ "$n" = 2 ]' "$rc $o / $n"

st_stop "$SPID" 20
echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
