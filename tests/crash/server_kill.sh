#!/usr/bin/env bash
# server_kill.sh - SIGKILL `sealtrail serve` while several clients ingest,
# and check the HTTP durability contract (docs/API.md, "The response is sent
# only when every accepted event is durable") after a restart:
#
#  (a) every acknowledged result (a 200/207 whose body arrived complete; its
#      results appended to the client's ack file as soon as it was parsed)
#      is in the restarted server's log: the id is in its tenant's stream
#      (GET /v1/events?tenant=, every page) at the acked seq with the acked
#      leaf hash, and a random sample is read back by GET /v1/events/{seq}
#      (leaf_hash, entry.id, entry.seq, entry.tenant);
#  (b) no two acked ids share a seq, and no (tenant, id) is stored twice,
#      in-flight unacked requests included;
#  (c) re-sending every acked event answers "duplicate":true with the acked
#      seq and leaf hash (the id index survived the kill);
#  (d) `sealtrail verify` passes on the log exactly as the kill left it,
#      before any recovery (crash.sh's contract (b): warnings about a torn
#      tail or lagging derived data are fine, a failure is not); the
#      restarted server exits 0 on SIGTERM and `sealtrail verify` passes
#      afterwards.
#
# Clients: 4..6 python3 processes (tests/integration/lib/stclient.py ingest),
# each with its own keep-alive connection and producer token, two tenants;
# NDJSON batches of 1..50, single JSON events, small arrays, about one in
# five with ?wait=checkpoint. The kill comes 0.5..3 s after the clients
# start. Rounds: SERVER_KILL_ROUNDS (default 8); the run
# stops starting rounds after SERVER_KILL_BUDGET seconds (default 75).
# SERVER_KILL_SEED replays the kill times and client choices.
set -euo pipefail

ST=${SEALTRAIL:-${SEALTRAIL_BUILD:-build}/sealtrail}
if [ ! -x "$ST" ]; then
	echo "server_kill.sh: SEALTRAIL=$ST is not an executable" >&2
	exit 2
fi
command -v python3 >/dev/null || { echo "server_kill.sh: needs python3" >&2; exit 2; }
HERE=$(cd "$(dirname "$0")" && pwd)
CLIENT=$HERE/../integration/lib/stclient.py
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_loopback_only

ROUNDS=${SERVER_KILL_ROUNDS:-8}
BUDGET=${SERVER_KILL_BUDGET:-75}
SEED=${SERVER_KILL_SEED:-$(( $(date +%s) % 100000 ))}
RANDOM=$SEED
echo "# seed $SEED (SERVER_KILL_SEED=$SEED replays kill times and client choices)"

T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-skill.XXXXXX")
PIDS=()      # every process started here, killed by PID in the trap
SPID=""
cleanup() {
	st_kill_all
	rm -rf "$T"
}
trap cleanup EXIT

pass=0 fail=0
ST_DETAIL_LINES=30

# start_server TAG: starts the server on D on a free loopback port; sets
# SPID and PORT. Retries when another process took the port first.
start_server() { st_start_server "$1" --data "$D"; }

# stop_server: SIGTERM, at most 20 s; sets SRC to the exit status (124:
# still running after 20 s, then killed). Not in a subshell: it waits.
stop_server() {
	st_stop "$SPID" 20
	SRC=$ST_EXIT
}

D=$T/log
"$ST" init --data "$D" --origin example.com/server-kill >/dev/null 2>&1
TENANTS=(ta tb)
for t in "${TENANTS[@]}"; do
	"$ST" token create --data "$D" --role producer --tenant "$t" --name "p-$t" 2>/dev/null | head -1 >"$T/tok.$t"
done
"$ST" token create --data "$D" --role auditor --all-tenants --name aud 2>/dev/null | head -1 >"$T/tok.aud"

t0=$SECONDS
total_acks=0
rounds_run=0
for round in $(seq 1 "$ROUNDS"); do
	if [ $((SECONDS - t0)) -ge "$BUDGET" ]; then
		echo "# time budget of ${BUDGET}s spent: stopping after $rounds_run rounds"
		break
	fi
	rounds_run=$round
	if ! start_server "r$round.a"; then no "round $round: the server starts"; break; fi
	nc=$((4 + RANDOM % 3))
	CPIDS=()
	for c in $(seq 1 "$nc"); do
		t=${TENANTS[$((c % 2))]}
		python3 "$CLIENT" ingest --port "$PORT" --token-file "$T/tok.$t" --tenant "$t" \
			--prefix "$t.r${round}c$c" --acks "$T/r$round.c$c.acks" --reqs "$T/r$round.c$c.reqs" \
			--seed $((SEED * 100 + round * 10 + c)) --seconds 10 --timeout 10 2>"$T/r$round.c$c.err" &
		CPIDS+=($!)
		PIDS+=($!)
	done
	ms=$((500 + RANDOM % 2501))
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -9 "$SPID"
	wait "$SPID" 2>/dev/null || true
	# The clients stop by themselves after two failed requests; bounded.
	st_reap "${CPIDS[@]}"

	acks=$(cat "$T"/r$round.c*.acks 2>/dev/null | wc -l)
	reqs=$(cat "$T"/r$round.c*.reqs 2>/dev/null | grep -c '"outcome"' || true)
	non200=$(cat "$T"/r$round.c*.reqs 2>/dev/null | grep '"outcome": "http"' | grep -vc '"status": 200' || true)
	torn=$(cat "$T"/r$round.c*.reqs 2>/dev/null | grep -c '"outcome": "torn"' || true)
	total_acks=$((total_acks + acks))
	echo "# round $round: $nc clients, kill after ${ms} ms: $reqs requests done, $acks acked events, $non200 non-200 responses, $torn torn"
	if [ "$non200" != 0 ] || [ "$torn" != 0 ]; then
		no "round $round: every response before the kill is a complete 200" \
			"$(cat "$T"/r$round.c*.reqs | grep '"outcome": "\(http\|torn\)"' | grep -v '"status": 200' | head -5)"
	fi

	vrc=0
	vout=$("$ST" verify --quiet --data "$D" 2>&1) || vrc=$?
	if [ $vrc = 0 ]; then ok "round $round: verify passes on the log as the kill left it"
	else no "round $round: verify passes on the log as the kill left it (exit $vrc)" "$vout"; fi

	if ! start_server "r$round.b"; then no "round $round: the server restarts after the kill"; break; fi
	args=()
	for t in "${TENANTS[@]}"; do args+=(--tenant-token "$t=$T/tok.$t"); done
	crc=0
	cout=$(python3 "$CLIENT" check --port "$PORT" --token-file "$T/tok.aud" "${args[@]}" \
		--sample 150 --seed $((SEED + round)) "$T"/r$round.c*.acks 2>&1) || crc=$?
	if [ $crc = 0 ]; then
		ok "round $round: every acked event is at its seq with its leaf hash, and a re-send is its duplicate ($(printf '%s' "$cout" | tail -1))"
	else
		no "round $round: every acked event is at its seq with its leaf hash, and a re-send is its duplicate" "$cout"
	fi

	stop_server
	if [ "$SRC" = 0 ] && grep -q "drained: tree size" "$T/r$round.b.err"; then
		ok "round $round: the restarted server drains and exits 0 on SIGTERM"
	else
		no "round $round: the restarted server drains and exits 0 on SIGTERM (status $SRC)" "$(tail -5 "$T/r$round.b.err")"
	fi
	vrc=0
	vout=$("$ST" verify --quiet --data "$D" 2>&1) || vrc=$?
	if [ $vrc = 0 ]; then ok "round $round: verify passes after the restart"
	else no "round $round: verify passes after the restart (exit $vrc)" "$vout"; fi
done

if [ "$total_acks" -gt 0 ]; then
	ok "the clients got $total_acks acknowledged events in $rounds_run rounds (the checks were not vacuous)"
else
	no "the clients got acknowledged events before the kills"
fi
[ "$rounds_run" -ge 5 ] || [ "$ROUNDS" -lt 5 ] || no "at least 5 rounds ran within the ${BUDGET}s budget (ran $rounds_run)"
echo "# $((SECONDS - t0)) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
