# shellcheck shell=bash
# A real Prometheus for tests: start one on loopback that scrapes a single
# target every second with a Bearer token, wait for the target to be up,
# run instant queries, stop it. Source this file; it sets no shell options
# and runs nothing at load time.
#
#   prom_start TARGET_HOSTPORT TOKEN_FILE   start; exports PROM_URL, PROM_PID,
#                                           PROM_DIR, PROM_STARTUP_MS
#   prom_wait_up TIMEOUT_SECONDS            until job "sealtrail" is up;
#                                           non-zero on timeout (lastError on stderr)
#   prom_query EXPR                         the value(s) of an instant query,
#                                           one per line; 1 if empty, 2 on error
#   prom_stop                               kill by PID, wait, remove PROM_DIR
#
# Timing (Prometheus 2.42, 2 vCPU): /-/ready answers ~70-100 ms after the
# start, but the first scrape comes ~5-6 s later: the discovery manager
# hands targets to the scraper on a fixed 5 s tick (not a flag in 2.42),
# and after a SIGHUP reload likewise within 5 s. Give prom_wait_up >= 15.
#
# Contract: everything lives in one temp dir (config, TSDB, log); the only
# socket opened is the web listener on 127.0.0.1:<free port>, and the only
# outbound connections are the scrapes of TARGET_HOSTPORT. Every wait is
# bounded. prom_start must run in the shell that later calls prom_stop (not
# in a $(...) subshell), so that the PID is this shell's child; callers
# should `trap prom_stop EXIT`. prom_stop is idempotent.
#
# Environment: PROMETHEUS (binary, default prometheus on PATH), PROM_JOB
# (job name, default sealtrail), PROM_READY_TIMEOUT (seconds to wait for
# /-/ready, default 30). Needs curl and python3.

PROM_JOB=${PROM_JOB:-sealtrail}

# The system python starts in ~40 ms; a pyenv shim takes ~150 ms per call.
if [ -x /usr/bin/python3 ]; then
	PROM_PYTHON=${PROM_PYTHON:-/usr/bin/python3}
else
	PROM_PYTHON=${PROM_PYTHON:-python3}
fi

# _prom_free_port: a port nobody listens on right now (bind to 0, close).
_prom_free_port() {
	"$PROM_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

_prom_now_ms() { date +%s%3N; }

# _prom_kill: stop PROM_PID (TERM, up to 10 s, then KILL) and reap it.
_prom_kill() {
	local i
	[ -n "${PROM_PID:-}" ] || return 0
	if kill -0 "$PROM_PID" 2>/dev/null; then
		kill -TERM "$PROM_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$PROM_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$PROM_PID" 2>/dev/null || true
	fi
	wait "$PROM_PID" 2>/dev/null || true
	PROM_PID=
}

prom_start() {
	if [ $# -ne 2 ] || [ -z "$1" ]; then
		echo "usage: prom_start TARGET_HOSTPORT TOKEN_FILE" >&2
		return 2
	fi
	local target=$1 token_file=$2 bin=${PROMETHEUS:-prometheus}
	local ready_timeout=${PROM_READY_TIMEOUT:-30} port t0 deadline
	if [ -n "${PROM_PID:-}" ]; then
		echo "prom_start: already running (pid $PROM_PID)" >&2
		return 1
	fi
	if [ ! -r "$token_file" ]; then
		echo "prom_start: token file '$token_file' is not readable" >&2
		return 1
	fi
	token_file=$(cd "$(dirname "$token_file")" && pwd)/$(basename "$token_file")
	if ! command -v "$bin" >/dev/null; then
		echo "prom_start: '$bin' not found (Debian package prometheus)" >&2
		return 1
	fi
	PROM_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-prom.XXXXXX") || return 1
	export PROM_DIR
	# scrape_timeout must not exceed scrape_interval (default timeout is 10 s).
	cat >"$PROM_DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: $PROM_JOB
    static_configs:
      - targets: ['$target']
    authorization:
      type: Bearer
      credentials_file: $token_file
EOF
	# A free port can be taken between the probe and the bind: retry.
	for _ in 1 2 3; do
		port=$(_prom_free_port) || return 1
		t0=$(_prom_now_ms)
		"$bin" --config.file="$PROM_DIR/prometheus.yml" \
			--storage.tsdb.path="$PROM_DIR/tsdb" \
			--web.listen-address="127.0.0.1:$port" \
			--log.level=warn >"$PROM_DIR/prometheus.log" 2>&1 &
		PROM_PID=$!
		PROM_URL=http://127.0.0.1:$port
		export PROM_PID PROM_URL
		deadline=$((t0 + ready_timeout * 1000))
		while [ "$(_prom_now_ms)" -lt "$deadline" ]; do
			if curl -fsS --max-time 1 -o /dev/null "$PROM_URL/-/ready" 2>/dev/null; then
				PROM_STARTUP_MS=$(($(_prom_now_ms) - t0))
				export PROM_STARTUP_MS
				return 0
			fi
			kill -0 "$PROM_PID" 2>/dev/null || break
			sleep 0.05
		done
		if kill -0 "$PROM_PID" 2>/dev/null; then
			echo "prom_start: not ready after ${ready_timeout}s; log:" >&2
			tail -n 20 "$PROM_DIR/prometheus.log" >&2
			prom_stop
			return 1
		fi
		_prom_kill
		if ! grep -q "address already in use" "$PROM_DIR/prometheus.log"; then
			echo "prom_start: prometheus exited; log:" >&2
			tail -n 20 "$PROM_DIR/prometheus.log" >&2
			prom_stop
			return 1
		fi
	done
	echo "prom_start: no free port after 3 attempts" >&2
	prom_stop
	return 1
}

# prom_wait_up TIMEOUT: poll /api/v1/targets until every active target of
# job PROM_JOB has health "up" (at least one target).
prom_wait_up() {
	local timeout=${1:-30} deadline out rc
	if [ -z "${PROM_URL:-}" ]; then
		echo "prom_wait_up: prometheus not started" >&2
		return 2
	fi
	deadline=$(($(_prom_now_ms) + timeout * 1000))
	out="no answer from $PROM_URL/api/v1/targets"
	while :; do
		rc=0
		out=$(curl -fsS --max-time 2 "$PROM_URL/api/v1/targets?state=active" 2>&1 |
			"$PROM_PYTHON" -c '
import json, sys
job = sys.argv[1]
try:
    doc = json.load(sys.stdin)
except ValueError:
    print("targets API returned no JSON"); sys.exit(1)
ts = [t for t in doc.get("data", {}).get("activeTargets", [])
      if t.get("labels", {}).get("job") == job]
if not ts:
    print("no active target for job %s yet" % job); sys.exit(1)
bad = [t for t in ts if t.get("health") != "up"]
for t in bad:
    print("%s: health %s, lastError %r" % (t.get("scrapeUrl"), t.get("health"), t.get("lastError")))
sys.exit(1 if bad else 0)' "$PROM_JOB") || rc=$?
		[ "$rc" -eq 0 ] && return 0
		[ "$(_prom_now_ms)" -ge "$deadline" ] && break
		if ! kill -0 "${PROM_PID:-}" 2>/dev/null; then
			out="prometheus (pid ${PROM_PID:-?}) is not running"
			break
		fi
		sleep 0.2
	done
	echo "prom_wait_up: job $PROM_JOB not up after ${timeout}s: $out" >&2
	return 1
}

# prom_query EXPR: print the value of each sample of an instant query, one
# per line (a scalar or string prints its value). Returns 1 when the result
# is empty, 2 when the query fails.
prom_query() {
	if [ $# -ne 1 ]; then
		echo "usage: prom_query EXPR" >&2
		return 2
	fi
	if [ -z "${PROM_URL:-}" ]; then
		echo "prom_query: prometheus not started" >&2
		return 2
	fi
	curl -sS --max-time 5 -G --data-urlencode "query=$1" "$PROM_URL/api/v1/query" |
		"$PROM_PYTHON" -c '
import json, sys
try:
    doc = json.load(sys.stdin)
except ValueError:
    sys.stderr.write("prom_query: no JSON from the query API\n"); sys.exit(2)
if doc.get("status") != "success":
    sys.stderr.write("prom_query: %s: %s\n" % (doc.get("errorType"), doc.get("error"))); sys.exit(2)
data = doc["data"]
kind, res = data["resultType"], data["result"]
if kind in ("scalar", "string"):
    print(res[1]); sys.exit(0)
if not res:
    sys.exit(1)
for s in res:
    print(s["value"][1] if kind == "vector" else s["values"][-1][1])'
}

# prom_stop: stop prometheus by PID and remove its temp dir. Idempotent.
prom_stop() {
	_prom_kill
	if [ -n "${PROM_DIR:-}" ] && [ -d "$PROM_DIR" ]; then
		rm -rf "$PROM_DIR"
	fi
	PROM_DIR=
	PROM_URL=
	return 0
}
