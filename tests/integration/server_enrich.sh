#!/usr/bin/env bash
# server_enrich.sh - what the server adds to every accepted event from the
# request (docs/ENRICHMENT.md, src/server/enrich.c), end to end through
# `sealtrail serve`:
#
# - a listener with its own context (region, service) over the file's
#   defaults (region, environment, cluster): the stored event carries
#   "context" with the listener's values winning per key, and a second
#   listener without context gets the defaults only;
# - "client_ip" is the connection's address and actor.ip stays as the
#   producer wrote it;
# - request_id from X-Request-Id and trace_id from traceparent when the
#   event has none; the producer's own values win when it has them;
# - an invalid traceparent is ignored (W3C) and counted in
#   sealtrail_traceparent_ignored_total; a malformed X-Request-Id is a 400
#   bad_header naming the header, and nothing is written;
# - a producer cannot set client_ip, context, redacted, criticality or
#   sampled (each refused by name);
# - the added members are searchable (context.region:..., client_ip:...);
# - SIGHUP changes the defaults for the next events;
# - a listener with an unknown context key or a bad value stops the server
#   at start, naming the line.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup enrich

D=$T/data
CFG=$T/server.conf
P1=$(st_free_port)
P2=$(st_free_port)
while [ "$P2" = "$P1" ]; do P2=$(st_free_port); done
cat >"$CFG" <<EOF
listen = 127.0.0.1:$P1 region=eu-west-1 service=payments
listen = 127.0.0.1:$P2
region = us-east-1
environment = prod
cluster = c1
checkpoint_interval = 100ms
EOF

"$ST" serve --data "$D" --config "$CFG" --init >"$T/s.out" 2>"$T/s.err" &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 1 200); do
	grep -q '^Serving on' "$T/s.out" 2>/dev/null && break
	kill -0 "$SPID" 2>/dev/null || break
	sleep 0.05
done
grep -q "^Serving on http://127.0.0.1:$P2/" "$T/s.out" || { cat "$T/s.err"; echo "Bail out! the server did not start"; exit 1; }

mk() { # mk ROLE: prints a new token for tenant acme
	"$ST" token create --data "$D" --role "$1" --tenant acme 2>/dev/null | head -1
}
PROD=$(mk producer)
READ=$(mk auditor)
OPS=$("$ST" token create --data "$D" --role operator 2>/dev/null | head -1)
sleep 2.2   # the server re-reads DIR/tokens at most once a second

EV='{"time":"2026-11-28T10:00:00Z","action":"user.login","actor":{"id":"alice","ip":"10.1.2.3"},"resource":{"type":"session"}}'
post() { # post PORT [curl args...]: body in $BODY; prints status and body
	local port=$1
	shift
	curl -s --max-time 10 -o "$T/resp" -w '%{http_code}' -X POST \
		-H "Authorization: Bearer $PROD" -H 'Content-Type: application/json' "$@" \
		--data-binary "$BODY" "http://127.0.0.1:$port/v1/events"
	echo " $(cat "$T/resp")"
}
seq_of() { python3 -c 'import json,sys; r=json.loads(sys.argv[1].split(" ",1)[1]); print(r["results"][0]["seq"])' "$1"; }
entry() { # entry SEQ: the stored entry's JSON
	curl -s --max-time 10 -H "Authorization: Bearer $READ" "http://127.0.0.1:$P1/v1/events/$1" |
		python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["entry"]))'
}
field() { # field JSON PATH.TO.KEY: the value, or "-" when absent
	python3 -c '
import json,sys
v=json.loads(sys.argv[1])
for k in sys.argv[2].split("."):
    if not isinstance(v,dict) or k not in v: print("-"); sys.exit()
    v=v[k]
print(v if isinstance(v,str) else json.dumps(v))' "$1" "$2"
}
metric() {
	curl -s --max-time 10 -H "Authorization: Bearer $OPS" "http://127.0.0.1:$P1/metrics" |
		awk -v m="$1" '$1==m {print $2}'
}

# 1. the listener with context, both headers
BODY=$EV
r=$(post "$P1" -H 'X-Request-Id: req-42' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
expect "an event on the listener with context is accepted" '[[ $r == 200* ]]' "$r"
e=$(entry "$(seq_of "$r")")
expect "request_id comes from X-Request-Id" '[ "$(field "$e" request_id)" = req-42 ]' "$e"
expect "trace_id is the traceparent's trace-id" '[ "$(field "$e" trace_id)" = 4bf92f3577b34da6a3ce929d0e0e4736 ]' "$e"
expect "client_ip is the connection's address" '[ "$(field "$e" client_ip)" = 127.0.0.1 ]' "$e"
expect "actor.ip stays as the producer wrote it" '[ "$(field "$e" actor.ip)" = 10.1.2.3 ]' "$e"
expect "context: the listener's region and service win, the defaults fill the rest" \
	'[ "$(field "$e" context)" = "{\"region\": \"eu-west-1\", \"environment\": \"prod\", \"cluster\": \"c1\", \"service\": \"payments\"}" ]' "$e"

# 2. the listener without context: the defaults; no headers: no ids
r=$(post "$P2")
e=$(entry "$(seq_of "$r")")
expect "the plain listener's events get the defaults only" \
	'[ "$(field "$e" context)" = "{\"region\": \"us-east-1\", \"environment\": \"prod\", \"cluster\": \"c1\"}" ]' "$e"
expect "without headers there is no request_id or trace_id" \
	'[ "$(field "$e" request_id)" = - ] && [ "$(field "$e" trace_id)" = - ]' "$e"

# 3. the producer's own ids win over the headers
BODY='{"time":"2026-11-28T10:00:00Z","action":"user.login","actor":{"id":"bob"},"resource":{"type":"session"},"request_id":"mine","trace_id":"t-1"}'
r=$(post "$P1" -H 'X-Request-Id: req-43' -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
e=$(entry "$(seq_of "$r")")
expect "the producer's request_id and trace_id are kept" \
	'[ "$(field "$e" request_id)" = mine ] && [ "$(field "$e" trace_id)" = t-1 ]' "$e"

# 4. invalid traceparent values are ignored and counted
before=$(metric sealtrail_traceparent_ignored_total)
BODY=$EV
bad_ok=0
for tp in garbage 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01 \
	00-00000000000000000000000000000000-00f067aa0ba902b7-01 \
	ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01; do
	r=$(post "$P1" -H "traceparent: $tp")
	e=$(entry "$(seq_of "$r")")
	[[ $r == 200* ]] && [ "$(field "$e" trace_id)" = - ] && bad_ok=$((bad_ok + 1))
done
after=$(metric sealtrail_traceparent_ignored_total)
expect "4 invalid traceparent headers: accepted without trace_id, and counted" \
	'[ $bad_ok = 4 ] && [ $((after - before)) = 4 ]' "ok=$bad_ok before=$before after=$after"

# 5. a malformed X-Request-Id: 400 naming the header, nothing written
size() { curl -s --max-time 10 -H "Authorization: Bearer $READ" "http://127.0.0.1:$P1/checkpoint" | sed -n 2p; }
sleep 0.3
n0=$(size)
r=$(post "$P1" -H 'X-Request-Id: has space')
long=$(head -c 129 /dev/zero | tr '\0' a)
r2=$(post "$P1" -H "X-Request-Id: $long")
sleep 0.3
expect "a malformed X-Request-Id is 400 bad_header naming the header" \
	'[[ $r == 400* && $r == *bad_header* && $r == *X-Request-Id* && $r2 == 400* ]]' "$r / $r2"
expect "and nothing is written" '[ "$(size)" = "$n0" ]' "before $n0 after $(size)"

# 6. server-owned names are refused from a producer, by name
refused=0
for name in client_ip context redacted criticality sampled; do
	BODY='{"time":"2026-11-28T10:00:00Z","action":"a.b","actor":{"id":"u"},"resource":{"type":"t"},"'$name'":"x"}'
	r=$(post "$P1")
	[[ $r == *"\\\"$name\\\" is a server field"* && $r == *"\"field\":\"$name\""* ]] && refused=$((refused + 1))
done
expect "client_ip, context, redacted, criticality and sampled are refused from producers" '[ $refused = 5 ]' "$r"

# 7. the added members are searchable
q() { curl -s --max-time 10 -G -H "Authorization: Bearer $READ" --data-urlencode "q=$1" \
	--data-urlencode fresh=1 "http://127.0.0.1:$P1/v1/events" |
	python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))'; }
expect "context.region:eu-west-1 finds the listener's events" '[ "$(q "context.region:eu-west-1")" -ge 6 ]' "$(q "context.region:eu-west-1")"
expect "context.region:us-east-1 finds the plain listener's one" '[ "$(q "context.region:us-east-1")" = 1 ]' "$(q "context.region:us-east-1")"
expect "client_ip:127.0.0.1 finds them all" '[ "$(q "client_ip:127.0.0.1")" -ge 7 ]' "$(q "client_ip:127.0.0.1")"

# 7b. a token's own context wins over the listener's and the defaults
TCTX=$("$ST" token create --data "$D" --role producer --tenant acme --context service=billing,cluster=c9 2>/dev/null | head -1)
bad=$("$ST" token create --data "$D" --role producer --tenant acme --context colour=red 2>&1 >/dev/null) && brc=0 || brc=$?
sleep 2.2
BODY=$EV
r=$(PROD=$TCTX post "$P1")
e=$(entry "$(seq_of "$r")")
expect "a token's context wins key by key (service, cluster), the listener's and the defaults fill the rest" \
	'[ "$(field "$e" context)" = "{\"region\": \"eu-west-1\", \"environment\": \"prod\", \"cluster\": \"c9\", \"service\": \"billing\"}" ]' "$e"
expect "token create --context refuses an unknown key, naming it" '[ $brc = 2 ] && [[ $bad == *colour* ]]' "$brc $bad"

# 8. SIGHUP: new defaults for the next events
sed -i 's/^environment = prod/environment = staging/' "$CFG"
kill -HUP "$SPID"
sleep 1.5
BODY=$EV
r=$(post "$P2")
e=$(entry "$(seq_of "$r")")
expect "after SIGHUP the new environment applies" '[ "$(field "$e" context.environment)" = staging ]' "$e"

st_stop "$SPID" 20
expect "the server drains and exits 0" '[ "$ST_EXIT" = 0 ]' "$(tail -5 "$T/s.err")"

# 9. bad listener context stops the server at start, naming the line
printf 'listen = 127.0.0.1:%s colour=red\n' "$P1" >"$T/bad.conf"
set +e
"$ST" serve --data "$D" --config "$T/bad.conf" >"$T/bad.out" 2>"$T/bad.err"
rc=$?
set -e
expect "an unknown listener context key stops the server, naming line and key" \
	'[ $rc != 0 ] && grep -q "bad.conf:1: listen: expected key=value with key region, environment, cluster or service after the address, found \"colour\"" "$T/bad.err"' \
	"$rc $(cat "$T/bad.err")"

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
