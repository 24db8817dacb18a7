#!/usr/bin/env bash
# sealtrail token create|list|revoke: the secret is printed once, alone on
# stdout's first line, and never again (not by list, not in DIR/tokens);
# DIR/tokens is 0600 and holds the secret's SHA-256; the command works
# while the log's lock is held (the server may be running); expiry accepts
# durations and RFC 3339; usage errors exit 2, failures exit 1.
set -euo pipefail
ST=${SEALTRAIL:?}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "not ok - $1"; }
expect() { if eval "$2"; then ok "$1"; else no "$1"; fi; }
# rc CMD...: runs CMD with output discarded and prints its exit status.
rc() { set +e; "$@" >/dev/null 2>&1; local r=$?; set -e; echo $r; }

D=$T/log
"$ST" init --data "$D" --origin example.com/token >/dev/null 2>&1

# Create while another process holds the log's lock, as a running server does.
flock -n "$D/lock" "$ST" token create --data "$D" --role producer --tenant acme \
  --name ci-bot@example.com > "$T/out" 2> "$T/err"
S1=$(head -1 "$T/out")
expect "create prints exactly one stdout line: the secret" \
  '[ "$(wc -l < "$T/out")" = 1 ] && [[ "$S1" =~ ^st1_[A-Za-z0-9_-]{43}$ ]]'
expect "create works while the log lock is held (never opens the log)" '[ -n "$S1" ]'
expect "create warns on stderr that the secret is shown once" 'grep -q "shown only this once" "$T/err"'
ID1=$(printf %s "$S1" | sha256sum | cut -c1-12)
H1=$(printf %s "$S1" | sha256sum | cut -c1-64)
expect "stderr names the id (first 12 hex of SHA-256 of the secret)" 'grep -q "created token $ID1" "$T/err"'
expect "stderr never repeats the secret" '! grep -qF "$S1" "$T/err"'
expect "DIR/tokens is mode 0600" '[ "$(stat -c %a "$D/tokens")" = 600 ]'
expect "DIR/tokens holds the SHA-256, not the secret" \
  'grep -q "^1 $H1 $ID1 producer acme [0-9]* 0 0 ci-bot@example.com$" "$D/tokens" && ! grep -qF "${S1#st1_}" "$D/tokens"'

TOKEN=$("$ST" token create --data "$D" --role admin 2>/dev/null | head -1)
expect "TOKEN=\$(... | head -1) captures a secret" '[[ "$TOKEN" =~ ^st1_[A-Za-z0-9_-]{43}$ ]] && [ "$TOKEN" != "$S1" ]'
ID2=$(printf %s "$TOKEN" | sha256sum | cut -c1-12)
"$ST" token create --data "$D" --role reader --tenant acme --tenant globex --name r1 \
  --expires 90d > "$T/s3" 2>/dev/null
"$ST" token create --data "$D" --role auditor --all-tenants --name aud --expires 12h > /dev/null 2>&1
"$ST" token create --data "$D" --role legal --tenant acme --name lg --expires 30m > /dev/null 2>&1
"$ST" token create --data "$D" --role operator --name ops --expires 2099-01-02T03:04:05Z > /dev/null 2>&1

"$ST" token list --data "$D" > "$T/list"
expect "list has a header and one row per token" '[ "$(wc -l < "$T/list")" = 7 ] && head -1 "$T/list" | grep -q "^ID  *NAME  *ROLE  *TENANTS  *CREATED  *EXPIRES  *STATUS$"'
expect "list shows id, name, role, tenants, active" \
  'grep -q "^$ID1  *ci-bot@example.com  *producer  *acme  .* never  *active$" "$T/list"'
expect "admin defaults to all tenants" 'grep -q "^$ID2  *admin-$ID2  *admin  *\* " "$T/list"'
expect "several tenants listed comma-separated" 'grep -q " r1  *reader  *acme,globex " "$T/list"'
expect "list never shows a secret or a full hash" \
  '! grep -qF "$S1" "$T/list" && ! grep -qF "$TOKEN" "$T/list" && ! grep -qF "$(cat "$T/s3")" "$T/list" && ! grep -q "st1_" "$T/list" && ! grep -qF "$H1" "$T/list"'

"$ST" token list --data "$D" --json > "$T/json"
expect "list --json: one valid object per token, no secrets" \
  '[ "$(wc -l < "$T/json")" = 6 ] && python3 -c "import json,sys
for l in open(sys.argv[1]): json.loads(l)" "$T/json" && ! grep -q "st1_" "$T/json" && ! grep -qF "$H1" "$T/json"'
# durations and times: expires - created, in seconds, per name
python3 - "$T/json" > "$T/spans" <<'PY'
import json, sys
from datetime import datetime
def t(s): return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
for l in open(sys.argv[1]):
    o = json.loads(l)
    e = o["expires"]
    print(o["name"], "never" if e is None else round((t(e) - t(o["created"])).total_seconds()), e, o["status"], o["all_tenants"], ",".join(o["tenants"]))
PY
expect "--expires 90d is 90 days" 'grep -q "^r1 7776000 .* active False acme,globex$" "$T/spans"'
expect "--expires 12h is 12 hours" 'grep -q "^aud 43200 .* active True $" "$T/spans"'
expect "--expires 30m is 30 minutes" 'grep -q "^lg 1800 " "$T/spans"'
expect "--expires takes an RFC 3339 time" 'grep -q "^ops [0-9]* 2099-01-02T03:04:05.000000Z active True" "$T/spans"'
expect "no --expires is never" 'grep -q "^ci-bot@example.com never None active False acme$" "$T/spans"'

"$ST" token create --data "$D" --role reader --tenant acme --name brief --expires 1s > /dev/null 2>&1
sleep 1.2
expect "an expired token is listed as expired" '"$ST" token list --data "$D" | grep -q " brief .* expired$"'

# Revocation.
expect "revoke by name exits 0" '[ "$(rc "$ST" token revoke --data "$D" ci-bot@example.com)" = 0 ]'
expect "revoked token listed as revoked with its time" \
  '"$ST" token list --data "$D" | grep -q "^$ID1 .* revoked [0-9T:.-]*Z$"'
expect "revoked record stays in DIR/tokens with its revocation time" \
  'grep -q "^1 $H1 $ID1 producer acme [0-9]* 0 [1-9][0-9]* ci-bot@example.com$" "$D/tokens"'
expect "revoking again succeeds and says so" \
  '"$ST" token revoke --data "$D" "$ID1" 2>&1 | grep -q "already revoked"'
expect "revoke by id exits 0" '[ "$(rc "$ST" token revoke --data "$D" "$ID2")" = 0 ]'
expect "revoke of an unknown token exits 1" '[ "$(rc "$ST" token revoke --data "$D" nobody)" = 1 ]'
expect "the name of a revoked token can be reused" \
  '[ "$(rc "$ST" token create --data "$D" --role producer --tenant acme --name ci-bot@example.com)" = 0 ]'
expect "a duplicate active name exits 1" \
  '[ "$(rc "$ST" token create --data "$D" --role producer --tenant acme --name ci-bot@example.com)" = 1 ]'
expect "DIR/tokens is still 0600 after rewrites" '[ "$(stat -c %a "$D/tokens")" = 600 ]'

# Usage errors exit 2.
u() { expect "usage error: $1" "[ \"\$(rc $2)\" = 2 ]"; }
u "no subcommand" '"$ST" token'
u "unknown subcommand" '"$ST" token frobnicate --data "$D"'
u "create without --data" '"$ST" token create --role admin'
u "create without --role" '"$ST" token create --data "$D" --tenant acme'
u "unknown role" '"$ST" token create --data "$D" --role root --all-tenants'
u "producer without a scope" '"$ST" token create --data "$D" --role producer'
u "reader without a scope" '"$ST" token create --data "$D" --role reader'
u "--tenant with --all-tenants" '"$ST" token create --data "$D" --role reader --tenant a --all-tenants'
u "invalid tenant" '"$ST" token create --data "$D" --role reader --tenant "a b"'
u "invalid name" '"$ST" token create --data "$D" --role admin --name "has space"'
u "name that looks like an id" '"$ST" token create --data "$D" --role admin --name 0123456789ab'
u "unknown option" '"$ST" token create --data "$D" --role admin --bogus'
u "stray argument to create" '"$ST" token create --data "$D" --role admin extra'
u "expiry with a bad unit" '"$ST" token create --data "$D" --role admin --expires 5x'
u "expiry of zero" '"$ST" token create --data "$D" --role admin --expires 0d'
u "expiry without a number" '"$ST" token create --data "$D" --role admin --expires d'
u "expiry in the past" '"$ST" token create --data "$D" --role admin --expires 2000-01-01T00:00:00Z'
u "expiry not RFC 3339" '"$ST" token create --data "$D" --role admin --expires 2099-13-01T00:00:00Z'
u "expiry overflowing" '"$ST" token create --data "$D" --role admin --expires 99999999999d'
u "list without --data" '"$ST" token list'
u "list with a stray argument" '"$ST" token list --data "$D" extra'
u "revoke without an id" '"$ST" token revoke --data "$D"'
u "revoke with two ids" '"$ST" token revoke --data "$D" a b'
expect "usage errors created nothing" '[ "$("$ST" token list --data "$D" --json | wc -l)" = 8 ]'

# Failures exit 1.
expect "create in a missing directory exits 1" \
  '[ "$(rc "$ST" token create --data "$T/nope" --role admin)" = 1 ]'
expect "list of a directory without tokens is empty" \
  'mkdir "$T/empty" && [ "$("$ST" token list --data "$T/empty" --json | wc -c)" = 0 ]'
echo "1 zz" >> "$D/tokens"
set +e; "$ST" token list --data "$D" > /dev/null 2> "$T/bad.err"; r=$?; set -e
expect "a corrupt DIR/tokens fails naming line and field" \
  '[ $r = 1 ] && grep -q "tokens line 10: expected 9 fields" "$T/bad.err"'
sed -i '$d' "$D/tokens"
sed -i 's/^\(1 [0-9a-f]* [0-9a-f]*\) reader /\1 root /' "$D/tokens"
set +e; "$ST" token list --data "$D" > /dev/null 2> "$T/bad.err"; r=$?; set -e
expect "a bad role names the field" '[ $r = 1 ] && grep -q "line [0-9]*: field 4 (role)" "$T/bad.err"'
expect "create refuses to rewrite a corrupt file" \
  '[ "$(rc "$ST" token create --data "$D" --role admin)" = 1 ]'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
