#!/usr/bin/env bash
# server_verify_url.sh - `sealtrail verify --url` (docs/VERIFY.md) against the
# real server, not an exported copy: a log of a few thousand events (twelve
# level-0 tiles and more: several 256-entry tile boundaries, a partial
# level-1 tile) verifies with an all-tenant auditor token, first run and
# then consistent with the saved state; a transparent proxy changes nothing.
# Then a tampering reverse proxy (tests/integration/lib/stclient.py proxy,
# python3 http.server on loopback) stands between the verifier and the
# server, and each lie exits 1 naming what was wrong, the state untouched:
#   - one byte of a hash in tile/0/000 flipped          -> names tile/0/000
#   - one byte inside entry 1 of tile/entries/000 flipped -> names the bundle
#   - a fork: a second server on a copy of the data directory (same key,
#     same origin) that grew differently after the copy -> "fork" with sizes
#   - a checkpoint of another log (another key)          -> names the checkpoint
#   - the server's own older checkpoint (rollback)        -> "rollback"
# and afterwards a run against the honest server with the same state passes,
# consistent with the saved size. A token whose scope is one tenant cannot
# read entry bundles: exit 1 naming them.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/lib/stclient.py
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-vurl.XXXXXX")
PIDS=()
cleanup() {
	st_kill_all
	rm -rf "$T"
}
trap cleanup EXIT
st_loopback_only
export XDG_STATE_HOME=$T/xdg      # never the user's own state
pass=0 fail=0
ST_DETAIL_LINES=20
t0=$SECONDS

probe=$("$ST" verify --url http://127.0.0.1:1 --key x 2>&1 || true)
if grep -q "unrecognized option" <<< "$probe"; then
	echo "SKIP: this sealtrail has no verify --url"
	echo "0 passed, 0 failed"
	exit 0
fi

# start_server NAME DIR: sets NAME_PID and NAME_URL.
start_server() {
	ST_SERVER_LABEL="server $1" st_start_server "$1" --data "$2" || return 1
	printf -v "${1}_PID" %s "$SPID"
	printf -v "${1}_URL" %s "http://127.0.0.1:$PORT"
}
stop_server() { st_stop "$1" 10; } # stop_server PID: SIGTERM, at most 10 s
# ingest URL COUNT SALT: COUNT events in one NDJSON request, answered once a
# checkpoint covers them (?wait=checkpoint); true on 200.
ingest() {
	python3 -c 'import json, sys
n, salt = int(sys.argv[1]), sys.argv[2]
for i in range(n):
    print(json.dumps({"time": "2026-01-01T00:00:00Z", "action": "doc." + salt, "actor": {"id": "u%d" % (i % 50)},
                      "resource": {"type": "doc", "id": "%s-%d" % (salt, i)}, "id": "%s-%d" % (salt, i)}))' "$2" "$3" > "$T/ev"
	local rs
	rs=$(curl -s -o "$T/ingest.out" -w '%{http_code}' -H @"$T/h.prod" -H 'Content-Type: application/x-ndjson' \
		--data-binary @"$T/ev" --max-time 60 "$1/v1/events?wait=checkpoint") || rs=000
	[ "$rs" = 200 ]
}
# start_proxy MODE [ARGS...]: a proxy to S1 (sets PX_URL, PX_PID).
start_proxy() {
	local mode=$1; shift
	rm -f "$T/px.port"
	python3 "$CLIENT" proxy --port-file "$T/px.port" --upstream "$S1_URL" --mode "$mode" "$@" 2>"$T/px.$mode.log" &
	PX_PID=$!
	PIDS+=("$PX_PID")
	for _ in $(seq 1 100); do [ -s "$T/px.port" ] && break; sleep 0.05; done
	PX_URL=http://127.0.0.1:$(cat "$T/px.port")
}
stop_proxy() { kill "$PX_PID" 2>/dev/null || true; wait "$PX_PID" 2>/dev/null || true; }
# rv URL [TOKEN-FILE]: verify --url with the state; sets VRC, output in $T/v.out.
rv() {
	VRC=0
	"$ST" verify --url "$1" --key "$VKEY" --token-file "${2:-$T/tok.aud}" --state "$STATE" --timeout 20 \
		>"$T/v.out" 2>"$T/v.err" || VRC=$?
}
vout() { cat "$T/v.out" "$T/v.err"; }
# tamper MODE WHAT PATTERN [PROXY-ARGS...]: verify through the proxy exits 1,
# prints PATTERN (grep -E) and leaves the state as it was.
tamper() {
	local mode=$1 what=$2 pat=$3; shift 3
	cp "$STATE" "$T/state.before"
	start_proxy "$mode" "$@"
	rv "$PX_URL"
	stop_proxy
	expect "$what: verify exits 1 naming it ($(grep -Ev '^FAIL' "$T/v.out" | head -1 | cut -c1-150))" \
		'[ $VRC = 1 ] && grep -Eq "$pat" "$T/v.out"' "$(vout; echo '--- proxy:'; tail -5 "$T/px.$mode.log")"
	expect "$what: the saved state did not move" 'cmp -s "$STATE" "$T/state.before"'
}

D=$T/log
"$ST" init --data "$D" --origin example.com/vurl > "$T/vkey" 2>/dev/null
VKEY=$(cat "$T/vkey")
tok() { # tok NAME ARGS...: a token file and a curl header file
	local name=$1; shift
	"$ST" token create --data "$D" "$@" 2>/dev/null | head -1 > "$T/tok.$name"
	printf 'Authorization: Bearer %s\n' "$(cat "$T/tok.$name")" > "$T/h.$name"
}
tok prod --role producer --tenant acme --name prod
tok aud --role auditor --all-tenants --name aud
tok rdr --role reader --tenant acme --name rdr
STATE=$T/verify.state

# ---- the honest server ------------------------------------------------------------
start_server S1 "$D"
expect "ingest 3000 events" 'ingest "$S1_URL" 3000 a'
rv "$S1_URL"
n1=$(sed -nE 's/^verified: size ([0-9]+),.*/\1/p' "$T/v.out")
expect "verify --url against the server, all-tenant auditor token: passes, first run, every entry ($(head -1 "$T/v.out" | cut -c1-150))" \
	'[ $VRC = 0 ] && [ "${n1:-0}" -ge 3000 ] && grep -Eq "^verified: size $n1, root [A-Za-z0-9+/=]{44}, [0-9]+ tiles, $n1 entries \(all\), no saved checkpoint before \(first run\), saved now$" "$T/v.out"' \
	"$(vout)"
expect "the state file is mode 0600" '[ "$(stat -c %a "$STATE")" = 600 ]'
start_proxy pass
rv "$PX_URL"
stop_proxy
expect "through a transparent proxy: passes, consistent with the saved size" \
	'[ $VRC = 0 ] && grep -q "consistent with saved size $n1$" "$T/v.out"' "$(vout)"
# the proxy run saved what it verified: the log may have grown since by
# the meta-audit events of the reads themselves
n1=$(sed -nE 's/^verified: size ([0-9]+),.*/\1/p' "$T/v.out")
rv "$S1_URL" "$T/tok.rdr"
expect "a reader token scoped to one tenant cannot read entry bundles: exit 1 naming tile/entries" \
	'[ $VRC = 1 ] && grep -q "tile/entries/" "$T/v.out"' "$(vout)"
curl -s -H @"$T/h.aud" "$S1_URL/checkpoint" > "$T/cp.old"

# ---- a fork: a copy of the data directory, grown differently ---------------------------
stop_server "$S1_PID"
cp -a "$D" "$T/fork"
start_server S1 "$D"
start_server S2 "$T/fork"
expect "the honest log grows by 500 events" 'ingest "$S1_URL" 500 b'
rv "$S1_URL"
n2=$(sed -nE 's/^verified: size ([0-9]+),.*/\1/p' "$T/v.out")
expect "verify again: passes, consistent with the saved size $n1 (now ${n2:-?})" \
	'[ $VRC = 0 ] && grep -q "consistent with saved size $n1$" "$T/v.out"' "$(vout)"
expect "the fork (same key, same origin) grows by 1500 other events" 'ingest "$S2_URL" 1500 c'

# ---- the lies --------------------------------------------------------------------------
tamper flip-tile "one byte of a hash in tile/0/000" "tile/0/000"
tamper flip-entry "one byte inside entry 1 of tile/entries/000" "tile/entries/000.*entry 1"
tamper alt "a fork served whole by a second server" "fork.*${n2:-X}" --alt "$S2_URL"
"$ST" init --data "$T/other" --origin example.com/vurl > /dev/null 2>&1
printf '{"time":"2026-01-01T00:00:00Z","action":"x","actor":{"id":"u"},"resource":{"type":"t"}}\n' |
	"$ST" append --data "$T/other" > /dev/null 2>&1
"$ST" checkpoint --data "$T/other" > "$T/cp.other"
tamper file-checkpoint "a checkpoint of another log (another key, same origin)" "^checkpoint: " --checkpoint-file "$T/cp.other"
tamper file-checkpoint "the server's own older checkpoint (size $(sed -n 2p "$T/cp.old"))" "rollback" --checkpoint-file "$T/cp.old"

# ---- the honest server again, with the same state --------------------------------------
rv "$S1_URL"
expect "after the lies, a run against the honest server passes, consistent with the saved size ${n2:-?}" \
	'[ $VRC = 0 ] && grep -q "consistent with saved size ${n2:-X}$" "$T/v.out"' "$(vout)"
expect "the token never appears in the verifier's output" \
	'! grep -qF "$(cat "$T/tok.aud")" "$T/v.out" "$T/v.err"'

stop_server "$S1_PID"
stop_server "$S2_PID"
vrc=0
vo=$("$ST" verify --data "$D" --key "$VKEY" 2>&1) || vrc=$?
expect "the honest log verifies offline after all that" '[ $vrc = 0 ]' "$vo"

echo "# $((SECONDS - t0)) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
