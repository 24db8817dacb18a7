#!/usr/bin/env bash
# server_k8s.sh - POST /v1/ingest/k8s, kube-apiserver's audit webhook
# (docs/K8S.md), end to end through `sealtrail serve` with a policy:
#
# - an audit.k8s.io/v1 EventList (tests/vectors/k8s/eventlist.json: a
#   read, a Secret created in two stages, an impersonated exec that was
#   forbidden, a non-resource request, a delete) is answered 200 once
#   durable, one event per Event;
# - each event maps as documented: id, action, actor (type, on_behalf_of,
#   ip), resource, outcome (201 success, 403/forbid denied, no status
#   unknown), request_id = auditID, before/after, metadata;
# - the Secret's data never reaches the data directory (the policy's
#   k8s_secret detector), though the event does;
# - the two stages of one request share request_id: the timeline has both;
# - the apiserver's retry of the same batch is all duplicates, never a
#   second event;
# - an object too large for the log is left out and the event says so;
# - bad input: not JSON, not an EventList, an item that is not an object
#   (400 naming it), another content type (415), a reader token (403);
#   nothing is written for them.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
VEC=$HERE/../vectors/k8s
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup k8s

D=$T/data
printf 'detector * on\nfield actor.id keep\n' >"$T/policy.conf"
printf 'policy_file = %s\ncheckpoint_interval = 100ms\n' "$T/policy.conf" >"$T/server.conf"
st_start_server s --data "$D" --config "$T/server.conf" --init
mk() { "$ST" token create --data "$D" --role "$1" "${@:2}" 2>/dev/null | head -1; }
PROD=$(mk producer --tenant cluster-a)
AUD=$(mk auditor --tenant cluster-a)
sleep 2.2
BASE=http://127.0.0.1:$PORT
post() { # post TOKEN FILE [CONTENT-TYPE]: status and body
	curl -s --max-time 20 -o "$T/r" -w '%{http_code}' -H "Authorization: Bearer $1" \
		-H "Content-Type: ${3:-application/json}" --data-binary "@$2" "$BASE/v1/ingest/k8s"
	echo " $(cat "$T/r")"
}

r=$(post "$PROD" "$VEC/eventlist.json")
expect "an EventList of 6 Events: 200, 6 accepted once durable" '[[ $r == "200 "* && $r == *"\"accepted\":6"* ]]' "$r"
curl -s --max-time 20 -H "Authorization: Bearer $AUD" \
	"$BASE/v1/events?q=action:k8s.*&fresh=1&limit=100&sort=time" >"$T/events.json"
expect "the mapping of each Event (id, action, actor, resource, outcome, request_id, before/after, metadata)" \
	'python3 - "$T/events.json" <<"EOF"
import json, sys
evs = [e.get("entry", e) for e in json.load(open(sys.argv[1]))["events"]]
by = {e["id"]: e for e in evs}
assert len(evs) == 6, [e["id"] for e in evs]
g = by["k8s-0f6e1b2c-3a4d-4e5f-8a9b-0c1d2e3f4a5b-responsecomplete"]
assert g["action"] == "k8s.pods.get" and g["outcome"] == "success", g
assert g["actor"]["id"] == "alice@corp.example" and g["actor"]["type"] == "user" and g["actor"]["ip"] == "10.20.30.40", g
assert g["resource"] == {"type": "pods", "id": "shop/cart-7d9f8-x2k4q", "name": "cart-7d9f8-x2k4q", "namespace": "shop", "api_version": "v1"}, g["resource"]
assert g["request_id"] == "0f6e1b2c-3a4d-4e5f-8a9b-0c1d2e3f4a5b" and g["time"].startswith("2026-11-28T09:00:00.104512"), g
assert g["metadata"]["stage"] == "ResponseComplete" and g["metadata"]["annotations"]["authorization.k8s.io/decision"] == "allow", g
assert g["reason"].startswith("RBAC: allowed"), g
s1 = by["k8s-7a1c3e5f-0b2d-4f6a-9c8e-1d3f5a7b9c0e-requestreceived"]
s2 = by["k8s-7a1c3e5f-0b2d-4f6a-9c8e-1d3f5a7b9c0e-responsecomplete"]
assert s1["action"] == s2["action"] == "k8s.secrets.create", (s1, s2)
assert s1["outcome"] == "unknown" and s2["outcome"] == "success" and s2["metadata"]["response_status"]["code"] == 201, (s1, s2)
assert s2["actor"]["type"] == "serviceaccount" and s2["actor"]["groups"][1] == "system:serviceaccounts:ci", s2
assert s2["after"]["metadata"]["uid"] == "5c7d9e1f-aaaa-4bbb-8ccc-0123456789ab", s2
assert any(x["path"].startswith("after.data") for x in s2["redacted"]), s2.get("redacted")
x = by["k8s-c3d4e5f6-1111-4222-8333-944455566677-responsecomplete"]
assert x["action"] == "k8s.pods.exec.create" and x["outcome"] == "denied", x
assert x["actor"]["id"] == "bob@corp.example" and x["actor"]["on_behalf_of"] == "system:admin", x
assert x["metadata"]["response_status"]["reason"] == "Forbidden", x
h = by["k8s-d4e5f6a7-2222-4333-8444-a55566677788-responsecomplete"]
assert h["action"] == "k8s.nonresource.get" and h["resource"] == {"type": "nonresource", "id": "/healthz"}, h
assert h["actor"]["type"] == "system", h
d = by["k8s-e5f6a7b8-3333-4444-8555-b66677788899-responsecomplete"]
assert d["action"] == "k8s.deployments.delete" and d["before"]["kind"] == "Deployment" and "after" not in d, d
assert d["metadata"]["delete_options"]["propagationPolicy"] == "Foreground" and d["resource"]["api_group"] == "apps", d
for e in evs:
    assert e["source"]["service"] == "kube-apiserver" and e["tenant"] == "cluster-a", e
EOF' "$(head -c 3000 "$T/events.json")"

r=$(curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/timeline?request_id=7a1c3e5f-0b2d-4f6a-9c8e-1d3f5a7b9c0e")
expect "the two stages of one request share request_id: its timeline has both" \
	'[[ $(grep -o "\"id\":\"k8s-7a1c3e5f[^\"]*\"" <<<"$r" | sort -u | wc -l) == 2 ]]' "$r"

r=$(post "$PROD" "$VEC/eventlist.json")
expect "the apiserver's retry of the batch: 200, every Event a duplicate, nothing new" \
	'[[ $r == "200 "* && $r == *"\"accepted\":0"* && $(grep -o "\"duplicate\":true" <<<"$r" | wc -l) == 6 ]]' "$r"

# an object too large for one log entry: the event without it
python3 - "$T/big.json" <<'EOF'
import json, sys
big = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": "huge", "namespace": "shop"},
       "data": {"blob": "x" * 200000}}
ev = {"level": "RequestResponse", "auditID": "f0f0f0f0-4444-4555-8666-c77788899900", "stage": "ResponseComplete",
      "requestURI": "/api/v1/namespaces/shop/configmaps", "verb": "create",
      "user": {"username": "alice@corp.example"}, "sourceIPs": ["10.20.30.40"],
      "objectRef": {"resource": "configmaps", "namespace": "shop", "name": "huge", "apiVersion": "v1"},
      "responseStatus": {"code": 201}, "requestObject": big, "responseObject": big,
      "requestReceivedTimestamp": "2026-11-28T09:05:00Z", "stageTimestamp": "2026-11-28T09:05:00.1Z"}
json.dump({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [ev]}, open(sys.argv[1], "w"))
EOF
r=$(post "$PROD" "$T/big.json")
e=$(curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/events?q=action:k8s.configmaps.create&fresh=1")
expect "an object too large for the log is left out; the event is kept and says why" \
	'[[ $r == "200 "*"\"accepted\":1"* && $e == *"objects_omitted"*"too large"* && $e != *xxxxxxxxxx* ]]' "$r / $(head -c 600 <<<"$e")"

printf 'not json' >"$T/bad1"
printf '{"kind":"Pod","apiVersion":"v1"}' >"$T/bad2"
printf '{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"a"},"x"]}' >"$T/bad3"
r1=$(post "$PROD" "$T/bad1")
r2=$(post "$PROD" "$T/bad2")
r3=$(post "$PROD" "$T/bad3")
r4=$(post "$PROD" "$VEC/eventlist.json" application/x-ndjson)
r5=$(post "$AUD" "$VEC/eventlist.json")
expect "bad input: not JSON (400 byte 0), not an EventList (400), items[1] not an object (400 naming it), ndjson (415), a reader (403)" \
	'[[ $r1 == "400 "*"byte 0"* && $r2 == "400 "*EventList* && $r3 == "400 "*"items[1]"* && $r4 == 415* && $r5 == 403* ]]' \
	"$r1 / $r2 / $r3 / $r4 / $r5"
n=$(curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/events?q=action:k8s.*&fresh=1&limit=100" | grep -o '"leaf_hash":' | wc -l)
expect "nothing was written for them (7 events in all)" '[ "$n" = 7 ]' "$n"

st_stop "$SPID" 20
expect "the Secret's data appears nowhere in the data directory" \
	'! grep -r -a -q -F "czNjcjN0LXAwc3RncmVzLXZhbHVl" "$D" && ! grep -r -a -q -F "YXBwdXNlcg==" "$D"'

echo "# $pass passed, $fail failed"
[ "$fail" = 0 ]
