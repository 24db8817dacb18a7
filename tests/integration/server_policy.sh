#!/usr/bin/env bash
# server_policy.sh - the redaction step of the policy pipeline end to end
# through `sealtrail serve --config` with `policy_file` (docs/REDACTION.md):
#
# - explicit field rules: drop, mask (keep_suffix), hash (deterministic per
#   tenant: equal values correlate inside a tenant, differ across tenants),
#   tokenize (a vault token, the subject from another field), keep;
# - detectors on every other string, on the hit's span only: email in free
#   text, a Luhn-valid card, an AWS access key id, a JWT, a PEM private key,
#   a URL's password; a Kubernetes Secret's data dropped whole;
# - the stored `redacted` list names path, action and detector, never a value;
# - a detector hit under `keep` is a redaction miss: counted, not changed;
# - criticality from the policy is stored (critical, low) and counted;
# - the event's identity (id, time, tenant, action) is never rewritten,
#   even when it looks like an email;
# - THE test the issue names: none of the original sensitive values appears
#   anywhere in the data directory (segments, index, vault, tokens, server
#   log) after ingest, a checkpoint, an index build and a clean stop;
# - the policy load and a SIGHUP change are meta-audited (digest and counts,
#   no rule text); a policy that does not parse refuses the reload (the old
#   one stays) and stops a fresh start naming file, line and column.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup policy

D=$T/data
CFG=$T/server.conf
POL=$T/policy.conf
cat >"$POL" <<'EOF'
# the test's policy
field metadata.password drop
field metadata.card mask keep_suffix=4
field actor.email hash
field metadata.customer.email tokenize subject=actor.id
field actor.user_agent keep
detector * on
detector card mask keep_suffix=4

[action auth.**]
criticality critical

[action health.check]
criticality low
EOF
cat >"$CFG" <<EOF
policy_file = $POL
checkpoint_interval = 100ms
log_file = $D.server.log
EOF

ST_SERVER_LOG=$D.server.log st_start_server s --data "$D" --config "$CFG" --init
mk() { "$ST" token create --data "$D" --role "$1" "${@:2}" 2>/dev/null | head -1; }
PROD=$(mk producer --tenant acme --tenant globex)
AUD=$(mk auditor --all-tenants)
OPS=$(mk operator)
sleep 2.2
BASE=http://127.0.0.1:$PORT

post() { # post JSON: prints status and body
	curl -s --max-time 10 -o "$T/resp" -w '%{http_code}' -X POST -H "Authorization: Bearer $PROD" \
		-H 'Content-Type: application/json' --data-binary "$1" "$BASE/v1/events"
	echo " $(cat "$T/resp")"
}
seq_of() { python3 -c 'import json,sys; print(json.loads(sys.argv[1].split(" ",1)[1])["results"][0]["seq"])' "$1"; }
entry() { curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events/$1" |
	python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["entry"]))'; }
field() {
	python3 -c '
import json,sys
v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    if not isinstance(v,dict) or k not in v: print("-"); sys.exit()
    v=v[k]
print(v if isinstance(v,str) else json.dumps(v, sort_keys=True))' "$1" "$2"
}
metric() { curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/metrics" | awk -v m="$1" '$1==m {print $2}'; }

# The secrets: unique strings, searched for byte by byte at the end.
PASSWORD=hunter2-Pw-81f3c
CARD=4111111111111111
EMAIL=jane.doe.7c1@example.com
CUSTOMER=cust.9d2e@example.org
FREE_EMAIL=free.text.3b7@example.net
AWS=AKIAIOSFODNN7EXAMPL3
JWT=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI3YzFiIn0.c2lnbmF0dXJlLTdjMWItc2VjcmV0
URLPW=Url-Pa55-6e0a
PEMBODY=MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7x9f3e0
K8SDATA=c3VwZXItc2VjcmV0LTJmOWE=
UAEMAIL=ua.miss.5a5@example.com
SECRETS=("cust2.e55a@example.org" "$PASSWORD" "$CARD" "$EMAIL" "$CUSTOMER" "$FREE_EMAIL" "$AWS" "$JWT" "$URLPW" "$PEMBODY" "$K8SDATA" "$UAEMAIL")

EV='{"time":"2026-11-28T10:00:00Z","action":"auth.login","tenant":"acme",
 "actor":{"id":"subj-4f1c","email":"'$EMAIL'","user_agent":"curl/8 ('$UAEMAIL')"},
 "resource":{"type":"session"},
 "reason":"asked to mail '$FREE_EMAIL' about key '$AWS' via https://bob:'$URLPW'@git.example.com/x",
 "metadata":{"password":"'$PASSWORD'","card":"'$CARD'","customer":{"email":"'$CUSTOMER'"},
  "note":"token '$JWT' and -----BEGIN PRIVATE KEY-----\n'$PEMBODY'\n-----END PRIVATE KEY-----"}}'
r=$(post "$EV")
expect "an event full of secrets is accepted" '[[ $r == 200* ]]' "$r"
e=$(entry "$(seq_of "$r")")
expect "drop: metadata.password is gone" '[ "$(field "$e" metadata.password)" = - ]' "$e"
expect "mask keep_suffix=4: metadata.card is ************1111" '[ "$(field "$e" metadata.card)" = "************1111" ]' "$e"
h1=$(field "$e" actor.email)
expect "hash: actor.email is hmac: and 22 base64url characters" '[[ $h1 =~ ^hmac:[A-Za-z0-9_-]{22}$ ]]' "$h1"
tok=$(field "$e" metadata.customer.email)
expect "tokenize: metadata.customer.email is a vault token" '[[ $tok =~ ^tok_[a-z2-7]{32}$ ]]' "$tok"
reason=$(field "$e" reason)
expect "detectors: the email, the AWS key id and the URL password in free text are masked in place" \
	'[[ $reason == "asked to mail "*"*"*" about key "*"*"*" via https://bob:"*"*@git.example.com/x" && $reason != *"$FREE_EMAIL"* && $reason != *"$AWS"* && $reason != *"$URLPW"* ]]' "$reason"
note=$(field "$e" metadata.note)
expect "detectors: the JWT and the PEM key in a note are masked" '[[ $note == "token "* && $note != *"$JWT"* && $note != *"$PEMBODY"* ]]' "$note"
expect "keep: actor.user_agent is stored as sent (a miss, not a change)" \
	'[ "$(field "$e" actor.user_agent)" = "curl/8 ($UAEMAIL)" ]' "$e"
red=$(field "$e" redacted)
expect "the redacted list names path, action and detector" \
	'python3 -c "
import json,sys
r=json.loads(sys.argv[1]); s={(x[\"path\"],x[\"action\"],x.get(\"detector\")) for x in r}
want={(\"metadata.password\",\"drop\",None),(\"metadata.card\",\"mask\",None),(\"actor.email\",\"hash\",None),
      (\"metadata.customer.email\",\"tokenize\",None),(\"reason\",\"mask\",\"email\"),(\"reason\",\"mask\",\"aws_key_id\"),
      (\"reason\",\"mask\",\"url_password\"),(\"metadata.note\",\"mask\",\"jwt\"),(\"metadata.note\",\"mask\",\"pem_key\")}
sys.exit(0 if want<=s else 1)" "$red"' "$red"
expect "criticality critical is stored for auth.**" '[ "$(field "$e" criticality)" = critical ]' "$e"
expect "the identity fields are untouched" '[ "$(field "$e" action)" = auth.login ] && [ "$(field "$e" tenant)" = acme ]' "$e"

# hash correlation: same value, same tenant -> same; other tenant -> different
r=$(post '{"time":"2026-11-28T10:00:01Z","action":"health.check","tenant":"acme","actor":{"id":"u-2","email":"'$EMAIL'"},"resource":{"type":"probe"}}')
e2=$(entry "$(seq_of "$r")")
r=$(post '{"time":"2026-11-28T10:00:02Z","action":"health.check","tenant":"globex","actor":{"id":"u-3","email":"'$EMAIL'"},"resource":{"type":"probe"}}')
e3=$(entry "$(seq_of "$r")")
expect "hash: equal values correlate within a tenant" '[ "$(field "$e2" actor.email)" = "$h1" ]' "$e2"
expect "hash: and differ across tenants" '[ "$(field "$e3" actor.email)" != "$h1" ]' "$e3"
expect "criticality low is stored for health.check" '[ "$(field "$e2" criticality)" = low ]' "$e2"
r=$(post '{"time":"2026-11-28T10:00:03Z","action":"x.y","tenant":"acme","actor":{"id":"subj-4f1c"},"resource":{"type":"t"},"metadata":{"customer":{"email":"'$CUSTOMER'"}}}')
e4=$(entry "$(seq_of "$r")")
expect "tokenize: the same value and subject give the same token" '[ "$(field "$e4" metadata.customer.email)" = "$tok" ]' "$e4"
expect "an event of normal criticality carries none" '[ "$(field "$e4" criticality)" = - ]' "$e4"

# an id that looks like an email is the idempotency key: never rewritten
r=$(post '{"id":"order-7@shop.example.com","time":"2026-11-28T10:00:04Z","action":"x.y","tenant":"acme","actor":{"id":"u-1"},"resource":{"type":"t"}}')
r2=$(post '{"id":"order-7@shop.example.com","time":"2026-11-28T10:00:04Z","action":"x.y","tenant":"acme","actor":{"id":"u-1"},"resource":{"type":"t"}}')
e5=$(entry "$(seq_of "$r")")
expect "the id is stored as sent, and a re-send is its duplicate" \
	'[ "$(field "$e5" id)" = order-7@shop.example.com ] && [[ $r2 == *"\"duplicate\":true"* ]]' "$e5 / $r2"

# a Kubernetes Secret's data: dropped or masked whole, by structure
r=$(post '{"time":"2026-11-28T10:00:05Z","action":"k8s.secrets.update","tenant":"acme","actor":{"id":"system:admin"},"resource":{"type":"secrets","name":"db"},"after":{"data":{"password":"'$K8SDATA'"}}}')
e6=$(entry "$(seq_of "$r")")
expect "k8s_secret: the Secret's data value is redacted whole" \
	'[ "$(field "$e6" after.data.password)" != "$K8SDATA" ] && [[ "$(field "$e6" redacted)" == *k8s_secret* ]]' "$e6"

# metrics
m_rule=$(metric 'sealtrail_redactions_total{detector="rule",action="hash"}')
m_email=$(metric 'sealtrail_redactions_total{detector="email",action="mask"}')
m_miss=$(metric 'sealtrail_redaction_misses_total{detector="email"}')
m_crit=$(metric 'sealtrail_events_by_criticality_total{criticality="critical"}')
expect "metrics: rule and detector redactions, the miss and criticality are counted" \
	'[ "${m_rule:-0}" -ge 3 ] && [ "${m_email:-0}" -ge 1 ] && [ "${m_miss:-0}" = 1 ] && [ "${m_crit:-0}" = 1 ]' \
	"hash=$m_rule email=$m_email miss=$m_miss crit=$m_crit"

# SIGHUP: a changed policy is audited (digest and counts, no rule text); a
# broken one is refused and the old one stays
sed -i '2i field metadata.extra drop' "$POL"   # in the all-actions scope at the top
kill -HUP "$SPID"
sleep 1.5
cp "$POL" "$T/good.conf"
printf 'field metadata.x explode\n' >>"$POL"
kill -HUP "$SPID"
sleep 1.5
audit=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=_sealtrail&limit=1000")
expect "the policy load and the reload are meta-audited, with the digest, without rule text" \
	'python3 -c "
import json,sys
ev=json.loads(sys.argv[1])[\"events\"]
acts=[(e[\"entry\"] if \"entry\" in e else e)[\"action\"] for e in ev]
txt=sys.argv[1]
ok=\"sealtrail.policy.load\" in acts and acts.count(\"sealtrail.policy.reload\")>=2 and \"sha256:\" in txt and \"metadata.extra\" not in txt
sys.exit(0 if ok else 1)" "$audit"' "$(printf '%s' "$audit" | head -c 2000)"
expect "the broken reload is refused in the server log, naming line and column" \
	'grep -q "reload: policy refused, the old one stays: .*policy.conf:[0-9]*:[0-9]*:" "$D.server.log"' "$(tail -5 "$D.server.log")"
r=$(post '{"time":"2026-11-28T10:00:06Z","action":"x.y","tenant":"acme","actor":{"id":"u-1"},"resource":{"type":"t"},"metadata":{"extra":"e","password":"'$PASSWORD'"}}')
e7=$(entry "$(seq_of "$r")")
expect "the reloaded policy applies (metadata.extra dropped) and the old rules still do" \
	'[ "$(field "$e7" metadata.extra)" = - ] && [ "$(field "$e7" metadata.password)" = - ]' "$e7"

# the vault over the API: detokenize (legal, one token, audited), erase
# (the subject in the body, audited by its hash), then 410
LEGAL=$(mk legal --tenant acme)
ADMIN_OTHER=$(mk legal --tenant globex)
sleep 2.2
detok() { curl -s --max-time 10 -o "$T/dt" -w '%{http_code}' -H "Authorization: Bearer $1" \
	"$BASE/v1/detokenize?tenant=$2&token=$3"; echo " $(cat "$T/dt")"; }
printf '%s\n' "$LEGAL" >"$T/legal.tok"
cli_val=$("$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme "$tok" 2>&1) && crc=0 || crc=$?
expect "sealtrail detokenize prints the value (exit 0)" '[ $crc = 0 ] && [[ $cli_val == *"\"value\":\"$CUSTOMER\""* ]]' "$crc $cli_val"
r=$(detok "$LEGAL" acme "$tok")
expect "detokenize (legal): the token resolves to the original value" \
	'[[ $r == 200* ]] && [ "$(python3 -c "import json,sys; print(json.loads(sys.argv[1].split(\" \",1)[1])[\"value\"])" "$r")" = "$CUSTOMER" ]' "$r"
r=$(detok "$PROD" acme "$tok")
r2=$(detok "$ADMIN_OTHER" acme "$tok")
r3=$(detok "$ADMIN_OTHER" globex "$tok")
expect "a producer may not detokenize (403); legal of another tenant neither (403), nor in its own (404)" \
	'[[ $r == 403* && $r2 == 403* && $r3 == 404* ]]' "$r / $r2 / $r3"
r=$(curl -s --max-time 10 -w ' %{http_code}' -X POST -H "Authorization: Bearer $LEGAL" \
	-H 'Content-Type: application/json' --data '{"tenant":"acme","subject":"subj-4f1c"}' "$BASE/v1/erase")
expect "erase: the subject's tokens are crypto-shredded" '[[ $r == *"\"tokens_erased\":"[1-9]* && $r == *" 200" ]]' "$r"
r=$(detok "$LEGAL" acme "$tok")
expect "after the erase the token is 410 erased, for good" '[[ $r == 410* && $r == *erased* ]]' "$r"
r=$(curl -s --max-time 10 -w ' %{http_code}' -X POST -H "Authorization: Bearer $LEGAL" \
	-H 'Content-Type: application/json' --data '{"tenant":"acme"}' "$BASE/v1/erase")
expect "an erase body without a subject is 400 naming the shape" '[[ $r == *bad_body* && $r == *" 400" ]]' "$r"
audit_check() {
	python3 -c "
import json,sys
ev=[e.get(\"entry\",e) for e in json.loads(sys.argv[1])[\"events\"]]
d=[e for e in ev if e[\"action\"]==\"sealtrail.vault.detokenize\"]
x=[e for e in ev if e[\"action\"]==\"sealtrail.vault.erase\"]
ok=len(d)>=2 and len(x)>=1 and x[0][\"resource\"][\"id\"].startswith(\"hmac:\") and \"subj-4f1c\" not in json.dumps(x)
sys.exit(0 if ok else 1)" "$1"
}
# meta-audit events are committed asynchronously: poll a little
for _ in $(seq 1 25); do
	audit=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=_sealtrail&limit=1000&fresh=1")
	audit_check "$audit" && break
	sleep 0.2
done
expect "detokenize and erase are meta-audited; the erase names the subject by hash only" \
	'audit_check "$audit"' "$(printf '%s' "$audit" | head -c 1500)"

# the commands: erase with the subject on standard input, then detokenize exits 3
cli_out=$("$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme "$tok" 2>&1) && crc=0 || crc=$?
expect "sealtrail detokenize of an erased token exits 3 naming 410" '[ $crc = 3 ] && [[ $cli_out == *410* ]]' "$crc $cli_out"
CUST2=cust2.e55a@example.org
r=$(post '{"time":"2026-11-28T10:00:07Z","action":"x.y","tenant":"acme","actor":{"id":"subj-cli-9a"},"resource":{"type":"t"},"metadata":{"customer":{"email":"'$CUST2'"}}}')
tok2=$(field "$(entry "$(seq_of "$r")")" metadata.customer.email)
# an export: the one way to resolve several tokens, explicit (its own
# path, a reason, at most 1000), each token answered by itself, audited
# with the reason and the counts, never a value
NOTOK=tok_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
xport() { curl -s --max-time 10 -D "$T/xh" -w ' %{http_code}' -X POST -H "Authorization: Bearer $1" \
	-H 'Content-Type: application/json' --data "$2" "$BASE/v1/detokenize/export"; }
r=$(xport "$LEGAL" '{"tenant":"acme","reason":"case LGL-1182","tokens":["'$tok2'","'$tok'","'$NOTOK'"]}')
expect "export: each token answered (a value, erased, not_found), no-store" \
	'[[ $r == *" 200" && $r == *"\"token\":\"$tok2\",\"value\":\"$CUST2\""* && $r == *"\"token\":\"$tok\",\"error\":\"erased\""* && $r == *"\"error\":\"not_found\""* && $r == *"\"resolved\":1,\"erased\":1,\"not_found\":1"* ]] && grep -qi "^cache-control: no-store" "$T/xh"' "$r"
r=$(xport "$LEGAL" '{"tenant":"acme","tokens":["'$tok2'"]}')
r2=$(xport "$LEGAL" '{"tenant":"acme","reason":"","tokens":["'$tok2'"]}')
r3=$(xport "$LEGAL" '{"tenant":"acme","reason":"x","tokens":["'$tok2'","tok_short"]}')
big=$(python3 -c "import json; print(json.dumps({'tenant':'acme','reason':'x','tokens':['$NOTOK']*1001}))")
r4=$(xport "$LEGAL" "$big")
expect "export refuses: no reason, an empty reason, a bad token (named by index), 1001 tokens (400)" \
	'[[ $r == *bad_body*" 400" && $r2 == *reason*" 400" && $r3 == *"tokens[1]"*" 400" && $r4 == *"found 1001"*" 400" ]]' "$r / $r2 / $r3 / $r4"
r=$(xport "$PROD" '{"tenant":"acme","reason":"x","tokens":["'$tok2'"]}')
r2=$(xport "$ADMIN_OTHER" '{"tenant":"acme","reason":"x","tokens":["'$tok2'"]}')
expect "export: a producer (403) and legal of another tenant (403) may not" '[[ $r == *" 403" && $r2 == *" 403" ]]' "$r / $r2"
printf '%s\n\n%s\n' "$tok2" "$NOTOK" >"$T/tokens.txt"
cli_out=$("$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme --export --reason "case LGL-1183" "$T/tokens.txt" 2>&1) && crc=0 || crc=$?
expect "sealtrail detokenize --export --reason FILE: one request, exit 0" \
	'[ $crc = 0 ] && [[ $cli_out == *"\"value\":\"$CUST2\""*"\"resolved\":1,\"erased\":0,\"not_found\":1"* ]]' "$crc $cli_out"
cli_out=$("$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme --export "$T/tokens.txt" 2>&1) && crc=0 || crc=$?
cli_out2=$(printf 'tok_x\n' | "$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme --export --reason r - 2>&1) && crc2=0 || crc2=$?
expect "sealtrail detokenize --export without --reason: usage (2); a bad line named (1)" \
	'[ $crc = 2 ] && [ $crc2 = 1 ] && [[ $cli_out2 == *"line 1"* ]]' "$crc $cli_out / $crc2 $cli_out2"
for _ in $(seq 1 25); do
	audit=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events?tenant=_sealtrail&limit=1000&fresh=1")
	[[ $audit == *"case LGL-1183"* ]] && break
	sleep 0.2
done
expect "exports are meta-audited with the reason and the counts, never a value" \
	'[[ $audit == *sealtrail.vault.export*"case LGL-1182 (1 resolved, 1 erased, 1 not found)"* && $audit == *"case LGL-1183"* && $audit != *"$CUST2"* ]]' "$(printf '%s' "$audit" | head -c 1500)"
cli_out=$(printf 'subj-cli-9a\n' | "$ST" erase --url "$BASE" --token-file "$T/legal.tok" --tenant acme --subject - 2>&1) && crc=0 || crc=$?
expect "sealtrail erase --subject - (from standard input) erases the subject's token" \
	'[ $crc = 0 ] && [[ $cli_out == *"\"tokens_erased\":1"* ]]' "$crc $cli_out"
cli_out=$("$ST" detokenize --url "$BASE" --token-file "$T/legal.tok" --tenant acme "$tok2" 2>&1) && crc=0 || crc=$?
expect "and its token no longer resolves (exit 3)" '[ $crc = 3 ]' "$crc $cli_out"
cli_out=$("$ST" erase --url "$BASE" --tenant acme 2>&1) && crc=0 || crc=$?
expect "sealtrail erase without a subject is a usage error (exit 2)" '[ $crc = 2 ]' "$crc $cli_out"

# a full index build and a clean stop, then: not one original byte anywhere
curl -s --max-time 30 -G -H "Authorization: Bearer $AUD" --data-urlencode 'q=action:auth.login' \
	--data-urlencode fresh=1 --data-urlencode tenant=acme "$BASE/v1/events" >/dev/null
st_stop "$SPID" 20
expect "the server drains and exits 0" '[ "$ST_EXIT" = 0 ]' "$(tail -5 "$D.server.log")"
found=""
for sec in "${SECRETS[@]}"; do
	[ "$sec" = "$UAEMAIL" ] && continue   # kept on purpose (the miss)
	if grep -r -a -l -F -- "$sec" "$D" "$D.server.log" >/dev/null 2>&1; then found+=" $sec"; fi
done
expect "no original sensitive value appears anywhere in the data directory or the server log" \
	'[ -z "$found" ]' "found:$found"
expect "and the kept one (the miss) does, proving the search looks in the right place" \
	'grep -r -a -q -F -- "$UAEMAIL" "$D"'
vout=$("$ST" verify --data "$D" 2>&1) && vrc=0 || vrc=$?
expect "after the erase the log still verifies, and the erased token is still in it" \
	'[ $vrc = 0 ] && grep -r -a -q -F -- "$tok" "$D"' "$vrc $vout"

# a policy that does not parse stops a fresh start, naming file, line, column
printf 'field a.b mask keep_suffix=lots\n' >"$T/bad.conf"
printf 'policy_file = %s\n' "$T/bad.conf" >"$T/bad-server.conf"
set +e
"$ST" serve --data "$D" --config "$T/bad-server.conf" --listen "127.0.0.1:$(st_free_port)" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
set -e
expect "a broken policy_file stops the server at start, naming file:line:col" \
	'[ $rc != 0 ] && grep -q "policy: .*bad.conf:1:[0-9]*:" "$T/bad.err"' "$rc $(cat "$T/bad.err")"

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
