#!/usr/bin/env bash
# server_drain.sh - `sealtrail serve` on SIGTERM and SIGHUP (src/server/server.c,
# docs/API.md):
#
# A. SIGTERM under load: 4 python3 producers (tests/integration/lib/stclient.py
#    ingest; keep-alive, batches of 1..50, some ?wait=checkpoint) and
#    bench/loadgen -c 16 (when built) send continuously; SIGTERM comes 1.5 s
#    in. Asserted: the server exits 0 within 10 s, logging "draining" and
#    "drained"; every response a python client got is complete (no short
#    body, no bad status line, a 200 has one result per event) and is 200,
#    or 503 shutting_down with Connection: close, and every 503 carries
#    Retry-After (API.md: 503 draining ... Retry-After); the connection ends only after a
#    response or at connect (refused); at most one request per client ends
#    with no response at all (a request written to an idle keep-alive
#    connection while the server closes it at exit, the race every HTTP/1.1
#    server has; counted and printed); loadgen saw only 200 and 503 (its
#    transport errors after the listener closed are expected, so its exit
#    status is not used); every acked event is in the log at its seq with its
#    leaf hash, and no event of a refused request is; loadgen's tenant holds
#    exactly the events loadgen got a 2xx for (none committed unanswered);
#    the server's own final checkpoint (DIR/checkpoint, written before exit)
#    covers the whole tree: its size is the entry count of dump and verify;
#    verify passes.
# B. The drain step by step (stclient.py drainprobe): a request in flight
#    (half its body sent) holds the drain; meanwhile new connections are
#    refused and a request on an idle keep-alive connection gets a complete
#    503 shutting_down with Retry-After and Connection: close; the held
#    request, completed, gets the same; refused events are not in the log.
# C. The drain is bounded: a request whose body never completes is cut by
#    read_timeout (2 s here) and the server exits 0 within 6 s.
# D. SIGHUP: rate_per_token changed in the config file applies live (429
#    rate_limited with Retry-After appear; lifted again by the next reload);
#    a malformed config is refused and the old settings stay; log_file is
#    reopened after logrotate-style `mv log log.1` (the new file gets the new
#    lines, log.1 keeps the old ones).
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/lib/stclient.py
LOADGEN=${SEALTRAIL_BUILD:+$SEALTRAIL_BUILD/bench/loadgen}
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-drain.XXXXXX")
PIDS=()
SPID=""
cleanup() {
	st_kill_all
	rm -rf "$T"
}
trap cleanup EXIT
st_loopback_only
pass=0 fail=0
ST_DETAIL_LINES=30
t0=$SECONDS

# start_server TAG: the server on D with the config file; sets SPID, PORT.
start_server() { ST_SERVER_LOG=$LOG st_start_server "$1" --data "$D" --config "$CFG"; }

# wait_exit SECS: waits for SPID at most SECS; sets SRC (124 when it had to
# be killed) and ELAPSED_MS (from the call).
wait_exit() {
	st_wait_exit "$SPID" "$1"
	SRC=$ST_EXIT ELAPSED_MS=$ST_ELAPSED_MS
}

# drain_ms: milliseconds from the last "draining" to the last "drained" line
# of the server's log file (its own timestamps); "?" when either is missing.
drain_ms() {
	python3 - "$LOG" <<'PY'
import sys, datetime
a = b = None
for line in open(sys.argv[1], errors="replace"):
    ts = line.split(" ", 1)[0]
    if line.rstrip().endswith("sealtrail: draining"):
        a = ts
    elif " sealtrail: drained: " in line:
        b = ts
f = lambda t: datetime.datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%fZ")
print(int((f(b) - f(a)).total_seconds() * 1000) if a and b and b > a else "?")
PY
}

# after_drain TAG: the offline checks once the server is gone.
after_drain() {
	local tag=$1 cpsize n vout vrc=0
	cpsize=$(sed -n 2p "$D/checkpoint")
	"$ST" dump --data "$D" > "$T/$tag.dump"
	n=$(head -1 "$T/$tag.dump" | sed -E 's/.*: ([0-9]+) entries$/\1/')
	vout=$("$ST" verify --data "$D" 2>&1) || vrc=$?
	expect "$tag: the server's final checkpoint covers the whole tree (checkpoint size $cpsize, $n entries)" \
		'[ -n "$n" ] && [ "$cpsize" = "$n" ] && printf "%s" "$vout" | grep -q "^OK: $n entries"' "$vout"
	expect "$tag: verify passes" '[ $vrc = 0 ]' "$vout"
}

D=$T/log
LOG=$T/server.log
CFG=$T/server.conf
"$ST" init --data "$D" --origin example.com/drain >/dev/null 2>&1
for t in ta lg; do
	"$ST" token create --data "$D" --role producer --tenant "$t" --name "p-$t" 2>/dev/null | head -1 >"$T/tok.$t"
done
write_cfg() { # write_cfg RATE
	printf '# server_drain.sh\nlog_file = %s\nread_timeout = 2s\nrate_per_token = %s\nrate_burst = %s\n' \
		"$LOG" "$1" "$1" > "$CFG"
}
write_cfg 0

# ---- A. SIGTERM under load ----------------------------------------------------
start_server A
CPIDS=()
for c in 1 2 3 4; do
	python3 "$CLIENT" ingest --port "$PORT" --token-file "$T/tok.ta" --tenant ta --prefix "ta.A$c" \
		--acks "$T/A.c$c.acks" --reqs "$T/A.c$c.reqs" --seed "$c" --seconds 12 --timeout 15 \
		2>"$T/A.c$c.err" &
	CPIDS+=($!)
	PIDS+=($!)
done
LPID=""
if [ -n "$LOADGEN" ] && [ -x "$LOADGEN" ]; then
	"$LOADGEN" -c 16 -d 5 --token-file "$T/tok.lg" --url "http://127.0.0.1:$PORT/v1/events" \
		>"$T/lg.out" 2>"$T/lg.err" &
	LPID=$!
	PIDS+=("$LPID")
else
	echo "# bench/loadgen not built (SEALTRAIL_BUILD unset?): python clients only"
fi
sleep 1.5
kill -TERM "$SPID"
wait_exit 40
dm=$(drain_ms)
expect "A: under load, SIGTERM: exit status 0 (status $SRC after ${ELAPSED_MS} ms; drain $dm ms)" '[ "$SRC" = 0 ]'
expect "A: the log file says draining, then drained with the final tree size" \
	'grep -q "sealtrail: draining$" "$LOG" && grep -q "sealtrail: drained: tree size [0-9]*, final checkpoint signed" "$LOG"' \
	"$(tail -5 "$LOG")"
st_reap "${CPIDS[@]}"
if [ -n "$LPID" ]; then
	for _ in $(seq 1 200); do kill -0 "$LPID" 2>/dev/null || break; sleep 0.05; done
	kill -9 "$LPID" 2>/dev/null || true
	wait "$LPID" 2>/dev/null || true
fi

# The python clients' outcomes.
python3 - "$T"/A.c*.reqs > "$T/A.summary" <<'PY' || true
import json, sys, collections
kinds = collections.Counter()
bad, noresp_per_client, statuses = [], [], collections.Counter()
for p in sys.argv[1:]:
    noresp = 0
    for line in open(p):
        r = json.loads(line)
        if "outcome" not in r:
            continue
        k = r["outcome"]
        kinds[k] += 1
        if k == "http":
            statuses[r["status"]] += 1
            if r["status"] == 200:
                continue
            if r["status"] == 503 and r.get("code") == "shutting_down" and r.get("close"):
                if not (r.get("retry_after") or "").isdigit():
                    print("NORA %s: %r" % (p.rsplit("/", 1)[-1], r))
                continue
            bad.append("%s: %r" % (p.rsplit("/", 1)[-1], r))
        elif k == "torn":
            bad.append("%s: %r" % (p.rsplit("/", 1)[-1], r))
        elif k == "no_response":
            noresp += 1
    noresp_per_client.append(noresp)
print("outcomes %s statuses %s no_response per client %s" % (dict(kinds), dict(statuses), noresp_per_client))
for b in bad[:10]:
    print("BAD " + b)
if max(noresp_per_client or [0]) > 1:
    print("BAD a client had %d requests without any response" % max(noresp_per_client))
PY
echo "# A: python clients: $(head -1 "$T/A.summary")"
expect "A: every python client response is complete, and 200 or 503 shutting_down with Connection: close; at most one request per client without a response" \
	'! grep -q "^BAD" "$T/A.summary" && grep -q "^outcomes" "$T/A.summary"' "$(grep -v "^NORA" "$T/A.summary")"
expect "A: every 503 a python client got carries Retry-After ($(grep -c "^NORA" "$T/A.summary" || true) without)" \
	'! grep -q "^NORA" "$T/A.summary"' "$(grep "^NORA" "$T/A.summary")"
expect "A: the python clients got acknowledged events before the drain" '[ "$(cat "$T"/A.c*.acks | wc -l)" -gt 0 ]'
if [ -n "$LPID" ]; then
	lgstat=$(grep '^status:' "$T/lg.out" || true)
	echo "# A: loadgen: $(head -1 "$T/lg.out" 2>/dev/null) | $lgstat | $(head -1 "$T/lg.err" 2>/dev/null)"
	lgbad=$(printf '%s\n' "${lgstat%%errors:*}" | tr ' ' '\n' | grep -E '^[0-9]+:' | grep -Ev '^(200|503):' || true)
	expect "A: loadgen saw only 200 and 503 (its status line: $lgstat)" \
		'[ -n "$lgstat" ] && [ -z "$lgbad" ] && printf "%s" "$lgstat" | grep -q " 200:"'
fi
after_drain A
lcrc=0
largs=()
for f in "$T"/A.c*.acks; do largs+=(--acks "$f"); done
for f in "$T"/A.c*.reqs; do largs+=(--reqs "$f"); done
lcout=$(python3 "$CLIENT" logcheck "$T/A.dump" "${largs[@]}" 2>&1) || lcrc=$?
expect "A: every acked event is in the log at its seq with its leaf hash, no refused one is, no id twice ($(printf '%s' "$lcout" | tail -1))" \
	'[ $lcrc = 0 ]' "$lcout"
if [ -n "$LPID" ]; then
	lgev=$(sed -nE 's/^[0-9]+ responses, ([0-9]+) events in.*/\1/p' "$T/lg.out")
	lglog=$(grep -c '^seq [0-9]*  tenant lg ' "$T/A.dump" || true)
	expect "A: loadgen's tenant holds exactly the events loadgen got a 2xx for ($lglog in the log, $lgev acked)" \
		'[ -n "$lgev" ] && [ "$lglog" = "$lgev" ]'
fi

# ---- B. the drain, step by step ------------------------------------------------
start_server B
pout=$(python3 "$CLIENT" drainprobe --port "$PORT" --token-file "$T/tok.ta" --tenant ta --prefix ta.B \
	--server-pid "$SPID" --acks "$T/B.acks" --reqs "$T/B.reqs" --finish-slow yes 2>&1) || true
wait_exit 40
while IFS= read -r line; do
	case $line in
	"CHECK pass "*) ok "B: ${line#CHECK pass }" ;;
	"CHECK fail "*) no "B: ${line#CHECK fail }" ;;
	*) echo "    $line" ;;
	esac
done <<< "$pout"
expect "B: exit status 0 once the held request is answered (status $SRC, ${ELAPSED_MS} ms after the probe)" '[ "$SRC" = 0 ]'
after_drain B
lcrc=0
lcout=$(python3 "$CLIENT" logcheck "$T/B.dump" --acks "$T/B.acks" --reqs "$T/B.reqs" 2>&1) || lcrc=$?
expect "B: the acked event is in the log, the two refused ones are not ($(printf '%s' "$lcout" | tail -1))" '[ $lcrc = 0 ]' "$lcout"

# ---- C. a request that never completes does not hold the drain forever ----------
start_server C
pout=$(python3 "$CLIENT" drainprobe --port "$PORT" --token-file "$T/tok.ta" --tenant ta --prefix ta.C \
	--server-pid "$SPID" --acks "$T/C.acks" --reqs "$T/C.reqs" --finish-slow no 2>&1) || true
wait_exit 40
while IFS= read -r line; do
	case $line in
	"CHECK pass "*) ok "C: ${line#CHECK pass }" ;;
	"CHECK fail that 503 carries Retry-After"*) echo "    (C: ${line#CHECK fail }: counted in B)" ;;
	"CHECK fail "*) no "C: ${line#CHECK fail }" ;;
	*) echo "    $line" ;;
	esac
done <<< "$pout"
dm=$(drain_ms)
expect "C: with a stalled body, the drain ends within 6 s (read_timeout = 2s) and the server exits 0 (status $SRC; drain $dm ms)" \
	'[ "$SRC" = 0 ] && [ "$dm" != "?" ] && [ "$dm" -le 6000 ]'
after_drain C
lcrc=0
lcout=$(python3 "$CLIENT" logcheck "$T/C.dump" --acks "$T/C.acks" --reqs "$T/C.reqs" 2>&1) || lcrc=$?
expect "C: the stalled request's event is not in the log ($(printf '%s' "$lcout" | tail -1))" '[ $lcrc = 0 ]' "$lcout"

# ---- D. SIGHUP -----------------------------------------------------------------
# burst N TAG: N GET /checkpoint (rate-limited like every authenticated
# request, but no disk write, so the burst is quick even on a loaded
# machine) on one keep-alive connection; prints "200:a 429:b ra429=ok|bad"
# (ok: every 429 is rate_limited with a Retry-After >= 1).
burst() {
	python3 - "$PORT" "$T/tok.ta" "$1" "$2" <<'PY'
import http.client, json, sys, collections
port, tok, n, prefix = int(sys.argv[1]), open(sys.argv[2]).read().strip(), int(sys.argv[3]), sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
st, ra_ok = collections.Counter(), True
for i in range(n):
    c.request("GET", "/checkpoint", headers={"Authorization": "Bearer " + tok})
    r = c.getresponse()
    data = r.read()
    st[r.status] += 1
    if r.status == 429:
        ra = r.getheader("Retry-After") or ""
        ra_ok &= ra.isdigit() and int(ra) >= 1 and json.loads(data)["error"]["code"] == "rate_limited"
print(" ".join("%d:%d" % kv for kv in sorted(st.items())), "ra429=%s" % ("ok" if ra_ok else "bad"))
PY
}
# hup_and_wait PATTERN: SIGHUP, then wait (at most 5 s) for a new log line
# matching PATTERN in the log file.
hup_and_wait() {
	local before
	before=$(cat "$LOG" "$LOG.1" 2>/dev/null | grep -c "$1" || true)
	kill -HUP "$SPID"
	for _ in $(seq 1 100); do
		[ "$(cat "$LOG" "$LOG.1" 2>/dev/null | grep -c "$1" || true)" -gt "$before" ] && return 0
		sleep 0.05
	done
	return 1
}
start_server D
b0=$(burst 30 ta.D0)
expect "D: with rate_per_token = 0, 30 quick requests all pass ($b0)" '[ "$b0" = "200:30 ra429=ok" ]'
write_cfg 5
mv "$LOG" "$LOG.1"
expect "D: SIGHUP after mv log log.1: a new log file appears with the reload line" \
	'hup_and_wait "reloaded settings" && [ -f "$LOG" ] && grep -q "reloaded settings" "$LOG"'
expect "D: the moved-away log.1 keeps the old lines and gets no new ones" \
	'grep -q "serving " "$LOG.1" && ! grep -q "reloaded settings" "$LOG.1"'
b1=$(burst 30 ta.D1)
n429=$(printf '%s' "$b1" | sed -nE 's/.*429:([0-9]+).*/\1/p')
n200=$(printf '%s' "$b1" | sed -nE 's/.*200:([0-9]+).*/\1/p')
expect "D: after SIGHUP with rate_per_token = 5, rate_burst = 5: 429 rate_limited with Retry-After appear ($b1)" \
	'[ "${n429:-0}" -ge 15 ] && [ "${n200:-0}" -ge 1 ] && [ "${n200:-0}" -le 12 ] && [[ "$b1" == *ra429=ok ]]'
printf 'rate_per_token = lots\n' > "$CFG"
expect "D: SIGHUP with a malformed config: refused, logged naming the line" \
	'hup_and_wait "reload refused, the old settings stay" && grep -q "reload refused, the old settings stay: .*:1:" "$LOG"'
sleep 1.2   # the bucket refills 5 tokens
b2=$(burst 30 ta.D2)
n429=$(printf '%s' "$b2" | sed -nE 's/.*429:([0-9]+).*/\1/p')
expect "D: after the refused reload the limit still applies ($b2)" '[ "${n429:-0}" -ge 15 ]'
write_cfg 0
expect "D: SIGHUP back to rate_per_token = 0" 'hup_and_wait "reloaded settings"'
b3=$(burst 30 ta.D3)
expect "D: the limit is lifted live ($b3)" '[ "$b3" = "200:30 ra429=ok" ]'
kill -TERM "$SPID"
wait_exit 40
expect "D: SIGTERM after reloads: exit 0 (status $SRC), the drain logged in the new log file" \
	'[ "$SRC" = 0 ] && grep -q "drained: tree size" "$LOG"'
after_drain D

echo "# $((SECONDS - t0)) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
