#!/usr/bin/env bash
# The command line contract: init prints a verifier key on a line of its
# own; append acks each durable event and reports bad lines by number and
# reason without stopping; entry prints exact bytes; proofs verify; limits
# refuse with the limit named; exit codes are 0/1/2 as documented.
set -euo pipefail
ST=${SEALTRAIL:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "not ok - $1"; }
expect() { if eval "$2"; then ok "$1"; else no "$1"; fi; }

D=$T/log
"$ST" init --data "$D" --origin example.com/cli > "$T/vkey" 2>"$T/init.err"
expect "init prints one verifier key line" '[ "$(wc -l < "$T/vkey")" = 1 ] && grep -Eq "^example.com/cli\+[0-9a-f]{8}\+[A-Za-z0-9+/=]{44}$" "$T/vkey"'
expect "init refuses an existing log" '! "$ST" init --data "$D" 2>/dev/null'
expect "init refuses a bad origin" '! "$ST" init --data "$T/o2" --origin "has space" 2>/dev/null'
set +e; "$ST" bogus >/dev/null 2>&1; rc=$?; set -e
expect "unknown command exits 2" '[ $rc = 2 ]'

cat > "$T/in.ndjson" <<'NDJSON'
{"time":"2026-11-27T10:00:00.5Z","action":"iam.role.update","actor":{"id":"alice"},"resource":{"type":"role"}}
{"time":"2026-11-27T10:00:00Z","action":"a","actor":{"id":"bob"}}
   
{"time":"2026-11-27T10:00:01+02:00","action":"k8s.pods.delete","actor":{"id":"carol"},"resource":{"type":"pod"},"tenant":"acme","id":"p-1"}
{"time":"2026-11-27T10:00:01Z","action":"x","actor":{"id":"d"},"resource":{"type":"r"},"seq":5}
not json at all
{"time":"2026-11-27T10:00:02Z","action":"db.drop","actor":{"id":"e\u00e9"},"resource":{"type":"t"},"tenant":"acme"}
NDJSON
set +e
"$ST" append --data "$D" --batch 2 "$T/in.ndjson" > "$T/acks" 2> "$T/errs"; rc=$?
set -e
expect "append exits 1 when lines were refused" '[ $rc = 1 ]'
expect "three acks" '[ "$(wc -l < "$T/acks")" = 3 ]'
expect "acks carry line, seq and leaf_hash" 'grep -q "^{\"line\":4,\"seq\":1,\"leaf_hash\":\"[A-Za-z0-9+/]\{43\}=\"}$" "$T/acks"'
expect "missing field named with line" 'grep -q "^line 2: .*resource" "$T/errs"'
expect "server field refused with line" 'grep -q "^line 5: .*seq" "$T/errs"'
expect "malformed JSON refused with line and byte" 'grep -q "^line 6: byte" "$T/errs"'

"$ST" entry --data "$D" 1 > "$T/e1"
expect "entry bytes are exact compact JSON with server fields first" \
  'grep -q "^{\"seq\":1,\"received_at\":\"[0-9T:.-]*Z\",\"tseq\":1,\"tprev\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"time\":\"2026-11-27T10:00:01+02:00\"" "$T/e1" && [ "$(tail -c 1 "$T/e1" | od -An -c | tr -d " ")" = "}" ]'
expect "leaf hash of the entry equals the ack" \
  '[ "$(python3 -c "import hashlib,base64,sys;print(base64.b64encode(hashlib.sha256(b\"\\x00\"+open(sys.argv[1],\"rb\").read()).digest()).decode())" "$T/e1")" = "$(sed -n 2p "$T/acks" | sed -E "s/.*leaf_hash\":\"([^\"]*)\".*/\1/")" ]'
"$ST" entry --data "$D" 2 > "$T/e2"
expect "tenant chain: tprev of acme's second entry is the first's leaf hash" \
  'grep -q "\"tseq\":2,\"tprev\":\"$(sed -n 2p "$T/acks" | sed -E "s/.*leaf_hash\":\"([^\"]*)\".*/\1/")\"" "$T/e2"'
expect "entry out of range fails" '! "$ST" entry --data "$D" 99 2>/dev/null'

"$ST" checkpoint --data "$D" > "$T/cp"
expect "checkpoint body is origin, size, root" '[ "$(sed -n 1p "$T/cp")" = example.com/cli ] && [ "$(sed -n 2p "$T/cp")" = 3 ]'
expect "checkpoint carries an em-dash signature line" 'grep -q "^— example.com/cli " "$T/cp"'
"$ST" proof inclusion --data "$D" 2 > "$T/proof"
expect "inclusion proof is tlog-proof@v1" '[ "$(sed -n 1p "$T/proof")" = "c2sp.org/tlog-proof@v1" ] && [ "$(sed -n 2p "$T/proof")" = "index 2" ]'
expect "consistency proof 1..3 has two hashes" '[ "$("$ST" proof consistency --data "$D" 1 3 | wc -l)" = 2 ]'
expect "consistency refuses OLD > NEW" '! "$ST" proof consistency --data "$D" 3 1 2>/dev/null'
expect "verify passes" '"$ST" verify --data "$D" --key "$(cat "$T/vkey")" | grep -q "^OK: 3 entries"'

# Limits: a small max_entry refuses a big event and names the limit.
"$ST" init --data "$T/small" --max-entry 600 >/dev/null 2>&1
python3 -c 'import json;print(json.dumps({"time":"2026-01-01T00:00:00Z","action":"a","actor":{"id":"x"},"resource":{"type":"t"},"reason":"r"*900}))' > "$T/big"
set +e; "$ST" append --data "$T/small" "$T/big" > /dev/null 2> "$T/big.err"; rc=$?; set -e
expect "oversize event refused naming max_entry" '[ $rc = 1 ] && grep -q "^line 1: .*max_entry" "$T/big.err"'
expect "init refuses max_entry over 65535" '! "$ST" init --data "$T/huge" --max-entry 70000 2>/dev/null'
"$ST" init --data "$T/few" --max-tenants 2 >/dev/null 2>&1
printf '%s\n' '{"time":"2026-01-01T00:00:00Z","action":"a","actor":{"id":"x"},"resource":{"type":"t"},"tenant":"a"}' \
  '{"time":"2026-01-01T00:00:00Z","action":"a","actor":{"id":"x"},"resource":{"type":"t"},"tenant":"b"}' \
  '{"time":"2026-01-01T00:00:00Z","action":"a","actor":{"id":"x"},"resource":{"type":"t"},"tenant":"c"}' > "$T/tenants"
set +e; "$ST" append --data "$T/few" "$T/tenants" > "$T/few.acks" 2> "$T/few.err"; rc=$?; set -e
expect "max_tenants refuses the third tenant by line, the others are appended" \
  '[ $rc = 1 ] && [ "$(wc -l < "$T/few.acks")" = 2 ] && grep -q "^line 3: refused by the log: too many tenants" "$T/few.err"'
"$ST" init --data "$T/shallow" --max-depth 3 >/dev/null 2>&1
echo '{"time":"2026-01-01T00:00:00Z","action":"a","actor":{"id":"x"},"resource":{"type":"t"},"metadata":{"a":{"b":{"c":1}}}}' > "$T/deep"
set +e; "$ST" append --data "$T/shallow" "$T/deep" > /dev/null 2> "$T/deep.err"; rc=$?; set -e
expect "--max-depth refuses a deeper event naming the limit and field" '[ $rc = 1 ] && grep -q "^line 1: .*metadata.a.b.*max_depth" "$T/deep.err"'
expect "--max-depth 0 is a usage error" '! "$ST" init --data "$T/d0" --max-depth 0 2>/dev/null'
expect "--batch 0 is a usage error" '! "$ST" append --data "$D" --batch 0 /dev/null 2>/dev/null'

# Stdin works, and a second process cannot open the log while one holds it.
echo '{"time":"2026-11-27T10:00:03Z","action":"a.b","actor":{"id":"f"},"resource":{"type":"t"}}' | "$ST" append --data "$D" > "$T/ack4"
expect "append from stdin" 'grep -q "\"seq\":3" "$T/ack4"'

# The submitting principal is stored as the server field "producer".
echo '{"time":"2026-11-27T10:00:03Z","action":"a.b","actor":{"id":"p"},"resource":{"type":"t"}}' | "$ST" append --data "$D" --producer ci-bot@example.com > "$T/ackp"
seqp=$(sed -E 's/.*"seq":([0-9]+).*/\1/' "$T/ackp")
expect "producer stored right after tprev" '"$ST" entry --data "$D" "$seqp" | grep -q "\"tprev\":\"[A-Za-z0-9+/=]*\",\"producer\":\"ci-bot@example.com\","'
expect "an invalid producer is a usage error" '! "$ST" append --data "$D" --producer "has space" /dev/null 2>/dev/null'
expect "verify passes with producers" '"$ST" verify --data "$D" >/dev/null'

# Key rotation keeps old checkpoints verifiable.
"$ST" key rotate --data "$D" > "$T/vkey2" 2>/dev/null
echo '{"time":"2026-11-27T10:00:04Z","action":"a.b","actor":{"id":"g"},"resource":{"type":"t"}}' | "$ST" append --data "$D" > /dev/null
expect "two keys listed after rotate" '[ "$("$ST" key list --data "$D" | wc -l)" = 2 ]'
expect "verify with both keys after rotate" '"$ST" verify --data "$D" --key "$(cat "$T/vkey")" --key "$(cat "$T/vkey2")" | grep -q "^OK: 6 entries"'
expect "verify with only the old key fails on the new checkpoints" '! "$ST" verify --data "$D" --key "$(cat "$T/vkey")" > /dev/null'

# Tiles: the partial level-0 tile is the 5 leaf hashes.
expect "partial tile has 6 hashes" '[ "$("$ST" tile --data "$D" tile/0/000.p/6 | wc -c)" = 192 ]'
expect "entry bundle holds 6 length-prefixed entries" '[ "$("$ST" tile --data "$D" tile/entries/000.p/6 | wc -c)" -gt 500 ]'
expect "tile beyond the tree fails" '! "$ST" tile --data "$D" tile/0/000.p/7 2>/dev/null'
expect "bad tile path is a usage error" '! "$ST" tile --data "$D" tile/0/0 2>/dev/null'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
