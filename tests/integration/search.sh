#!/usr/bin/env bash
# search.sh - the search side end to end over HTTP and the command line
# (issue 4; docs/QUERY.md, docs/API.md "Search"): a server on loopback with
# 1,500 generated events in tenants a, b and c, and:
#  - GET /v1/events?q= answers exactly what a python brute force over the
#    same events says (several queries), newest first, paged by cursor with
#    limit 7, each page's cursor resuming exactly;
#  - tenant isolation: a reader of a sees only a (a query naming tenant:b
#    finds nothing, ?tenant=b is 403, stats buckets and timelines only show
#    a, a cursor replayed by another token or altered is 400 bad_cursor);
#  - a bad query is 400 naming the column;
#  - stats by action (top 3) and by 1 h interval add up; timeline of one
#    request across tenants is ordered by event time with the skewed event
#    flagged; proofs=1 gives inclusion proofs that python checks against the
#    signed checkpoint;
#  - the commands query (table, --json, --csv), stats, timeline and tail -f
#    (which prints events posted while it follows, then stops on SIGTERM);
#  - the index metrics; SIGKILL of the server and a restart: the same
#    answers (the index catches up by itself); reindex offline, then
#    query --data gives the same answer again.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
LIB=$HERE/lib/tlogcheck.py
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-search.XXXXXX")
PIDS=()
SPID=""
cleanup() {
	st_kill_all
	rm -rf "$T"
}
trap cleanup EXIT
st_loopback_only
pass=0 fail=0
ST_DETAIL_LINES=20
D=$T/data

"$ST" init --data "$D" --origin example.com/search >/dev/null 2>&1
VKEY=$("$ST" key list --data "$D" | tail -1)
mk() { "$ST" token create --data "$D" "$@" 2>/dev/null | head -1; }
PROD=$(mk --role producer --all-tenants --name prod)
RA=$(mk --role reader --tenant a --name reader-a)
AUD=$(mk --role auditor --all-tenants --name aud)
OPS=$(mk --role operator --name ops)
printf '%s' "$RA" >"$T/ra.tok"
printf '%s' "$AUD" >"$T/aud.tok"

st_start_server s1 --data "$D" || exit 1
BASE=http://127.0.0.1:$PORT

# The events: deterministic, with words, arrays, numbers, request ids shared
# across tenants, and one event whose time is far from its receipt.
python3 - "$T/events.ndjson" <<'PY'
import datetime, json, random, sys
r = random.Random(4)
acts = ["iam.role.update", "iam.role.delete", "iam.user.create", "k8s.secrets.get", "auth.login"]
words = ["disk", "full", "quota", "forbidden", "expired", "token", "network"]
with open(sys.argv[1], "w") as f:
    for i in range(1500):
        t = 1793491200 + 600 + i * 300 + r.randrange(-300, 300)
        ev = {"id": "e%d" % i,
              "time": datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "tenant": "abc"[r.randrange(3)], "action": r.choice(acts),
              "actor": {"id": r.choice(["alice@example.com", "bob@example.com", "svc:deploy"])},
              "resource": {"type": "role", "id": "res %d" % r.randrange(50)},
              "outcome": r.choice(["success", "failure", "denied"]),
              "reason": " ".join(r.choice(words) for _ in range(r.randrange(4))),
              "request_id": "req-%d" % r.randrange(200),
              "metadata": {"tags": [r.choice(["x", "y", "pci"])], "n": r.randrange(10)}}
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
PY
# Events happen from 2026-11-01 on, 5 min apart: all of them are received
# (now) long after their time, so the timeline check below uses skew=1000w
# (nothing flagged) and the default 5 min (everything flagged).
code=$(curl -s -o "$T/post.out" -w '%{http_code}' -H "Authorization: Bearer $PROD" \
	-H 'Content-Type: application/x-ndjson' --data-binary @"$T/events.ndjson" "$BASE/v1/events")
expect "1,500 events posted" '[ "$code" = 200 ]' "$(head -c 400 "$T/post.out")"

get() {  # get TOKEN PATH: body in $T/body, status in $code
	code=$(curl -s -o "$T/body" -w '%{http_code}' -H "Authorization: Bearer $1" "$BASE$2")
}
# brute QUERY_PY TENANTS SORT: the expected seqs, from the stored entries (seq
# order is post order; the server added seq), newest first by (time, seq).
"$ST" query --url "$BASE" --token-file "$T/aud.tok" --all --sort seq --json '' >"$T/all.jsonl" 2>"$T/err" || true
n_all=$(wc -l <"$T/all.jsonl")
expect "the auditor sees all 1,500 events (query --all, the index caught up)" '[ "$n_all" -ge 1500 ]' "$n_all; $(cat "$T/err")"

brute() {
	python3 - "$T/all.jsonl" "$1" <<'PY'
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
evs = [e for e in evs if e["tenant"] in "abc"]
pred = eval("lambda e: " + sys.argv[2])
m = [e for e in evs if pred(e)]
m.sort(key=lambda e: (e["time"], e["seq"]), reverse=True)
print(" ".join(str(e["seq"]) for e in m))
PY
}
# pages TOKEN Q: every page of limit 7 by cursor, the seqs joined.
pages() {
	python3 - "$BASE" "$1" "$2" <<'PY'
import json, sys, urllib.parse, urllib.request
base, tok, q = sys.argv[1:4]
op = urllib.request.build_opener(urllib.request.ProxyHandler({}))
seqs, cur, n = [], None, 0
while True:
    u = base + "/v1/events?limit=7&fresh=1&q=" + urllib.parse.quote(q)
    if cur:
        u += "&cursor=" + cur
    d = json.load(op.open(urllib.request.Request(u, headers={"Authorization": "Bearer " + tok})))
    seqs += [e["seq"] for e in d["events"]]
    n += 1
    cur = d["next_cursor"]
    if not cur or n > 1000:
        break
print(" ".join(map(str, seqs)))
PY
}
# Times in the stored events are RFC 3339 Z strings of one width, so string
# order is time order.
for spec in \
	'outcome:denied|e["outcome"]=="denied" and e["tenant"]=="a"' \
	'action:iam.role.* -actor.id:svc:deploy|e["action"].startswith("iam.role.") and e["actor"]["id"]!="svc:deploy" and e["tenant"]=="a"' \
	'quota OR metadata.tags:pci|("quota" in e["reason"].split() or "pci" in e["metadata"]["tags"]) and e["tenant"]=="a"' \
	'"disk full" time:2026-11-01|"disk full" in e["reason"] and e["time"].startswith("2026-11-01") and e["tenant"]=="a"' \
	'resource.id:"res 7" OR (metadata.n:3 failure)|(e["resource"]["id"]=="res 7" or (e["metadata"]["n"]==3 and e["outcome"]=="failure")) and e["tenant"]=="a"'; do
	q=${spec%%|*}
	want=$(brute "${spec#*|}")
	got=$(pages "$RA" "$q")
	expect "reader of a, q=$q: the brute force's $(wc -w <<<"$want") hits, in order, across pages of 7" \
		'[ "$got" = "$want" ] && [ -n "$want" ]' "got:  ${got:0:300}
want: ${want:0:300}"
done

# Tenant isolation.
get "$RA" "/v1/events?q=tenant:b&fresh=1"
expect "reader of a, q=tenant:b: no events" '[ "$code" = 200 ] && python3 -c "import json,sys; sys.exit(len(json.load(open(sys.argv[1]))[\"events\"]))" "$T/body"'
get "$RA" "/v1/events?tenant=b"
expect "reader of a, ?tenant=b: 403" '[ "$code" = 403 ]'
get "$RA" "/v1/stats?by=tenant"
expect "reader of a, stats by tenant: only a" '[ "$code" = 200 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if [v[\"value\"] for v in d[\"values\"]]==[\"a\"] and d[\"total\"]==d[\"values\"][0][\"count\"] else 1)" "$T/body"' "$(cat "$T/body")"
get "$RA" "/v1/events?q=outcome:denied&limit=2"
cur=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["next_cursor"])' "$T/body")
get "$AUD" "/v1/events?q=outcome:denied&limit=2&cursor=$cur"
expect "a's cursor replayed by another token: 400 bad_cursor" '[ "$code" = 400 ] && grep -q bad_cursor "$T/body"'
get "$RA" "/v1/events?q=outcome:success&limit=2&cursor=$cur"
expect "a cursor presented with another query: 400" '[ "$code" = 400 ]'
bad=${cur:0:10}$([ "${cur:10:1}" = 0 ] && echo 1 || echo 0)${cur:11}
get "$RA" "/v1/events?q=outcome:denied&limit=2&cursor=$bad"
expect "an altered cursor: 400 bad_cursor" '[ "$code" = 400 ] && grep -q bad_cursor "$T/body"'
get "$RA" "/v1/events?q=actor.id:%20OR"
expect "a bad query: 400 bad_query naming the column" '[ "$code" = 400 ] && grep -q bad_query "$T/body" && grep -q column "$T/body"' "$(cat "$T/body")"

# Stats.
get "$AUD" "/v1/stats?by=action&top=3&interval=1h&q=-tenant:_sealtrail"
python3 - "$T/body" "$T/all.jsonl" >"$T/out" 2>&1 <<'PY' && ok "stats by action top 3 with 1 h buckets: counts and buckets match the events" || no "stats by action top 3 with 1 h buckets: counts and buckets match the events" "$(cat "$T/out")"
import json, sys, collections, datetime
d = json.load(open(sys.argv[1]))
evs = [e for e in map(json.loads, open(sys.argv[2])) if e["tenant"] != "_sealtrail"]
c = collections.Counter(e["action"] for e in evs)
assert d["total"] == len(evs), (d["total"], len(evs))
top = sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
assert [(v["value"], v["count"]) for v in d["values"]] == top, (d["values"], top)
assert d["other"] == len(evs) - sum(n for _, n in top)
assert sum(b["count"] for b in d["histogram"]) == len(evs)
for v in d["values"]:
    assert len(v["series"]) == len(d["histogram"]) and sum(v["series"]) == v["count"]
PY

# Timeline: the request with the most events.
RQ=$(python3 -c 'import json,sys,collections; c=collections.Counter(json.loads(l).get("request_id") for l in open(sys.argv[1]) if "request_id" in l); print(c.most_common(1)[0][0])' "$T/all.jsonl")
get "$AUD" "/v1/timeline?request_id=$RQ&skew=1000w"
python3 - "$T/body" "$T/all.jsonl" "$RQ" >"$T/out" 2>&1 <<'PY' && ok "timeline of $RQ: every event of it, by event time, none flagged at skew=1000w" || no "timeline of $RQ" "$(cat "$T/out")"
import json, sys
d = json.load(open(sys.argv[1]))
want = sorted((e["time"], e["seq"]) for e in map(json.loads, open(sys.argv[2])) if e.get("request_id") == sys.argv[3])
got = [(e["entry"]["time"], e["seq"]) for e in d["events"]]
assert got == want, (got, want)
assert not any(e["skewed"] for e in d["events"])
PY
get "$AUD" "/v1/timeline?request_id=$RQ"
expect "timeline at the default 5 min: events received months after their time are flagged skewed" \
	'python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d[\"events\"] and all(e[\"skewed\"] for e in d[\"events\"]) else 1)" "$T/body"'
get "$RA" "/v1/timeline?request_id=$RQ"
expect "timeline as reader of a: only a's events of that request" \
	'[ "$code" = 200 ] && python3 -c "import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if all(e[\"entry\"][\"tenant\"]==\"a\" for e in d[\"events\"]) else 1)" "$T/body"'

# Proofs: each hit with an inclusion proof against one signed checkpoint.
sleep 1.2   # a checkpoint covering everything (checkpoint_ms 1000)
get "$AUD" "/v1/events?q=outcome:denied&limit=3&proofs=1"
python3 - "$T/body" "$T" >"$T/out" 2>&1 <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
for i, e in enumerate(d["events"]):
    open("%s/proof%d" % (sys.argv[2], i), "w").write(e["proof"])
    open("%s/leaf%d" % (sys.argv[2], i), "w").write(e["leaf_hash"])
print(len(d["events"]), d["checkpoint_size"])
PY
okp=0
for i in 0 1 2; do
	[ -s "$T/proof$i" ] && python3 "$LIB" inclusion "$T/proof$i" "$(cat "$T/leaf$i")" "$VKEY" >/dev/null 2>&1 && okp=$((okp + 1))
done
expect "proofs=1: three hits, each proof verified against the signed checkpoint" '[ "$okp" = 3 ]' "$(cat "$T/out" "$T/body" | head -c 600)"
get "$RA" "/v1/events?q=outcome:denied&proofs=1"
expect "proofs=1 with a reader token: 403" '[ "$code" = 403 ]'

# The command line.
n=$("$ST" query --url "$BASE" --token-file "$T/ra.tok" --limit 5 --json 'outcome:denied' | wc -l)
expect "query --json --limit 5: 5 JSON lines" '[ "$n" = 5 ]'
"$ST" query --url "$BASE" --token-file "$T/ra.tok" --limit 3 --csv 'outcome:denied' >"$T/csv"
expect "query --csv: a header and 3 rows" '[ "$(wc -l <"$T/csv")" = 4 ] && head -1 "$T/csv" | grep -q "^TIME,SEQ,TENANT"'
"$ST" query --url "$BASE" --token-file "$T/ra.tok" --limit 3 'outcome:denied' >"$T/tab"
expect "query (table): a header and 3 rows naming tenant a" '[ "$(wc -l <"$T/tab")" = 4 ] && [ "$(grep -c " a  " "$T/tab")" = 3 ]' "$(cat "$T/tab")"
"$ST" stats --url "$BASE" --token-file "$T/aud.tok" --by outcome -- '-tenant:_sealtrail' >"$T/st"
expect "stats --by outcome: total and three outcomes" '[ "$(wc -l <"$T/st")" = 4 ] && grep -q "^(total) *[0-9]" "$T/st"' "$(cat "$T/st")"
"$ST" timeline --url "$BASE" --token-file "$T/aud.tok" "$RQ" >"$T/tl"
expect "timeline ID: the request's events, skew shown" '[ "$(grep -c SKEWED "$T/tl")" -ge 2 ]' "$(head -5 "$T/tl")"
if "$ST" query --url "$BASE" --token-file "$T/ra.tok" '(outcome:denied' >/dev/null 2>"$T/err"; then
	no "query with a syntax error fails"
else
	expect "query with a syntax error fails naming the column" 'grep -q column "$T/err"' "$(cat "$T/err")"
fi

# tail -f: follows what arrives, stops on SIGTERM.
"$ST" tail --url "$BASE" --token-file "$T/ra.tok" -f -n 2 --json 'action:tail.test OR outcome:denied' >"$T/tail" 2>"$T/tail.err" &
TPID=$!
PIDS+=("$TPID")
sleep 1
for i in 1 2 3; do
	curl -s -o /dev/null -H "Authorization: Bearer $PROD" -H 'Content-Type: application/json' \
		--data-binary '{"time":"2026-11-28T00:00:00Z","tenant":"a","action":"tail.test","actor":{"id":"t"},"resource":{"type":"x"},"id":"tail'$i'"}' "$BASE/v1/events"
done
for _ in $(seq 30); do [ "$(grep -c tail.test "$T/tail")" -ge 3 ] && break; sleep 0.2; done
st_stop "$TPID" 5
expect "tail -f: the 2 newest, then the 3 events posted while it follows; exits on SIGTERM" \
	'[ "$(grep -c tail.test "$T/tail")" = 3 ] && [ "$(wc -l <"$T/tail")" = 5 ] && [ "$ST_EXIT" = 0 ]' "$(cat "$T/tail" "$T/tail.err" | cut -c1-120)"

# Metrics.
get "$OPS" /metrics
expect "metrics: index entries and lag" 'grep -q "^sealtrail_index_entries " "$T/body" && grep -q "^sealtrail_index_lag_seconds " "$T/body"'

# SIGKILL and restart: the same answers.
before=$(pages "$RA" 'outcome:denied')
kill -9 "$SPID"
st_wait_exit "$SPID" 5
st_start_server s2 --data "$D" || exit 1
BASE=http://127.0.0.1:$PORT
after=$(pages "$RA" 'outcome:denied')
expect "after SIGKILL and restart: the same hits" '[ "$before" = "$after" ] && [ -n "$after" ]'
st_stop "$SPID" 10

# Offline: reindex, then query --data.
out=$("$ST" reindex --data "$D")
expect "reindex: every entry indexed" 'grep -q "^indexed [0-9]* entries" <<<"$out"' "$out"
n=$("$ST" query --data "$D" --all --json 'outcome:denied tenant:a' | wc -l)
expect "query --data after reindex: the same number of hits" '[ "$n" = "$(wc -w <<<"$before")" ]' "$n vs $(wc -w <<<"$before")"
if "$ST" tail --data "$D" -f '' >/dev/null 2>"$T/err"; then
	no "tail -f --data is refused (nothing can arrive while the log is held)"
else
	expect "tail -f --data is refused with a reason" 'grep -q -- "--url" "$T/err"'
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
