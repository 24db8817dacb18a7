#!/usr/bin/env bash
# server_sampling.sh - sampling of low-value classes and its signed
# summaries, end to end through `sealtrail serve` (docs/SAMPLING.md):
#
# - a class sampled at 0.5: of 400 distinct events about half are kept
#   (binomial: 140..260 is more than 6 sigma), each kept one carries
#   "sampled":{"class","rate"}, each other answered "sampled_out":true with
#   its class and not written;
# - the decision is a keyed hash of (tenant, id): a retry of the same
#   events gets exactly the same decisions (kept ones come back as
#   duplicates, sampled-out ones sampled out again);
# - an event the policy makes critical is never sampled out;
# - the summary events (sealtrail.sampling.summary, in the event's tenant)
#   account for every decision: kept + sampled_out = events received, kept
#   = what the responses said; the drain writes the last window's summary
#   before it exits;
# - the metrics count the sampled-out events and the summaries.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup sampling

D=$T/data
cat >"$T/policy.conf" <<'EOF'
[action health.check]
criticality critical field=metadata.urgent value=yes
sample health 0.5
EOF
cat >"$T/server.conf" <<EOF
policy_file = $T/policy.conf
sample_summary_interval = 1s
checkpoint_interval = 100ms
EOF
st_start_server s --data "$D" --config "$T/server.conf" --init
PROD=$("$ST" token create --data "$D" --role producer --tenant acme --name prober 2>/dev/null | head -1)
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
OPS=$("$ST" token create --data "$D" --role operator 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT

# batch FIRST COUNT [urgent]: NDJSON of health.check events with ids FIRST..
batch() {
	python3 -c '
import json,sys
first,count=int(sys.argv[1]),int(sys.argv[2]); urgent=len(sys.argv)>3
for i in range(first,first+count):
    ev={"id":"hc-%d"%i,"time":"2026-11-28T10:00:00Z","action":"health.check","tenant":"acme",
        "actor":{"id":"probe"},"resource":{"type":"endpoint"}}
    if urgent: ev["metadata"]={"urgent":"yes"}
    print(json.dumps(ev))' "$@"
}
post() { batch "$@" | curl -s --max-time 30 -X POST -H "Authorization: Bearer $PROD" \
	-H 'Content-Type: application/x-ndjson' --data-binary @- "$BASE/v1/events"; }
# decisions JSON: "k" or "o" per result, in order
decisions() { python3 -c '
import json,sys
r=json.loads(sys.argv[1])["results"]
print("".join("o" if x.get("sampled_out") else ("k" if "seq" in x else "?") for x in r))' "$1"; }

r1=$(post 0 200)
r2=$(post 200 200)
d=$(decisions "$r1")$(decisions "$r2")
kept=$(printf '%s' "$d" | tr -cd k | wc -c)
outs=$(printf '%s' "$d" | tr -cd o | wc -c)
expect "rate 0.5: of 400 events $kept kept, $outs sampled out (140..260 kept), none failed" \
	'[ $((kept + outs)) = 400 ] && [ "$kept" -ge 140 ] && [ "$kept" -le 260 ]' "$d"
expect "a sampled-out result names its class" '[[ $r1 == *"\"sampled_out\":true,\"class\":\"health\""* ]]' "$(printf '%s' "$r1" | head -c 400)"
seq1=$(python3 -c 'import json,sys; print(next(x["seq"] for x in json.loads(sys.argv[1])["results"] if "seq" in x))' "$r1")
e=$(curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events/$seq1")
expect "a kept event carries sampled: class and rate" '[[ $e == *"\"sampled\":{\"class\":\"health\",\"rate\":0.5}"* ]]' "$e"

# the retry: the same decisions, kept ones are duplicates
r3=$(post 0 200)
expect "a retry gets the same decisions (keyed by tenant and id)" '[ "$(decisions "$r3")" = "$(decisions "$r1")" ]' \
	"$(decisions "$r1") / $(decisions "$r3")"
expect "and the kept ones come back as duplicates" \
	'[ "$(python3 -c "import json,sys; print(json.loads(sys.argv[1])[\"duplicates\"])" "$r3")" = "$(decisions "$r1" | tr -cd k | wc -c)" ]' "$r3"

# critical events are never sampled out
r4=$(post 1000 100 urgent)
expect "100 events the policy makes critical: all kept" '[ "$(decisions "$r4")" = "$(printf 'k%.0s' $(seq 1 100))" ]' "$(decisions "$r4")"

# the summaries: after the interval, kept + sampled_out = all received
sleep 2.5
summ() { curl -s --max-time 10 -G -H "Authorization: Bearer $AUD" --data-urlencode 'q=action:sealtrail.sampling.summary' \
	--data-urlencode tenant=acme --data-urlencode fresh=1 --data-urlencode limit=100 "$BASE/v1/events" |
	python3 -c '
import json,sys
ev=[e.get("entry",e) for e in json.load(sys.stdin)["events"]]
k=sum(e["metadata"]["kept"] for e in ev); o=sum(e["metadata"]["sampled_out"] for e in ev)
ok=all(e["metadata"]["class"]=="health" and e["metadata"]["producer"]=="prober" and e["metadata"]["rate"]==0.5 for e in ev)
print(k, o, len(ev), ok)'; }
read -r sk so sn sok <<<"$(summ)"
k3=$(decisions "$r3" | tr -cd k | wc -c)
o3=$(decisions "$r3" | tr -cd o | wc -c)
expect "the summaries account for every decision (kept $sk = $((kept + k3)), sampled_out $so = $((outs + o3)))" \
	'[ "$sk" = $((kept + k3)) ] && [ "$so" = $((outs + o3)) ] && [ "$sok" = True ]' "$sk $so $sn $sok"

m=$(curl -s --max-time 10 -H "Authorization: Bearer $OPS" "$BASE/metrics")
mo=$(printf '%s\n' "$m" | awk '$1=="sealtrail_events_sampled_out_total" {print $2}')
ms=$(printf '%s\n' "$m" | awk '$1=="sealtrail_sample_summaries_total" {print $2}')
expect "metrics: sampled-out events and summaries are counted" '[ "$mo" = $((outs + o3)) ] && [ "${ms:-0}" -ge 1 ]' "$mo $ms"

# the drain writes the last window
r5=$(post 2000 50)
o5=$(decisions "$r5" | tr -cd o | wc -c)
k5=$(decisions "$r5" | tr -cd k | wc -c)
st_stop "$SPID" 20
expect "the server drains and exits 0" '[ "$ST_EXIT" = 0 ]' "$(tail -3 "$T/s.err")"
st_start_server s2 --data "$D" --config "$T/server.conf"
BASE=http://127.0.0.1:$PORT
sleep 1.5
read -r sk2 so2 sn2 sok2 <<<"$(summ)"
expect "the drain wrote the last window's summary before exiting (+$k5 kept, +$o5 sampled out)" \
	'[ "$sk2" = $((sk + k5)) ] && [ "$so2" = $((so + o5)) ]' "$sk2 $so2 (was $sk $so)"
st_stop "$SPID" 20

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
