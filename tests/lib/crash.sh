# shellcheck shell=bash
# Shared pieces of the command-line crash tests (tests/crash/crash.sh,
# tests/crash/idempotency.sh). Source it; it sets no shell options and
# runs nothing at load time.
#
#   crash_setup NAME      T (a temp dir, removed on exit with its write bits
#                         restored), CHILD (a PID killed with -9 on exit),
#                         PASSED/FAILED counters, ok and notok
#   crash_events N SEED   N realistic NDJSON events on stdout: build/bench/
#                         gen_events when SEALTRAIL_BUILD has it, else a
#                         python generator (about half with tenant, half
#                         with id "ev-SEED-I")

crash_setup() {
	T=$(mktemp -d "${TMPDIR:-/tmp}/sealtrail-$1.XXXXXX")
	CHILD=""
	trap _crash_cleanup EXIT
	PASSED=0
	FAILED=0
}

_crash_cleanup() {
	if [ -n "$CHILD" ]; then
		kill -9 "$CHILD" 2>/dev/null || true
		wait "$CHILD" 2>/dev/null || true
	fi
	chmod -R u+w "$T" 2>/dev/null || true
	rm -rf "$T"
}

ok() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
notok() { FAILED=$((FAILED + 1)); echo "not ok - $1: $2" | tr '\n' ' '; echo; }

crash_events() {
	local gen=${SEALTRAIL_BUILD:+$SEALTRAIL_BUILD/bench/gen_events}
	if [ -n "$gen" ] && [ -x "$gen" ]; then
		"$gen" "$1" "$2"
		return
	fi
	python3 - "$1" "$2" <<'PY'
import json, random, sys
n, seed = int(sys.argv[1]), int(sys.argv[2])
rnd = random.Random(seed)
for i in range(n):
    e = {"time": "2026-01-01T%02d:%02d:%02dZ" % (i // 3600 % 24, i // 60 % 60, i % 60),
         "action": rnd.choice(["user.login", "doc.read", "doc.write", "role.grant"]),
         "actor": {"id": "u%d" % rnd.randrange(500), "ip": "10.0.%d.%d" % (rnd.randrange(256), rnd.randrange(256))},
         "resource": {"type": "document", "id": "d%d" % rnd.randrange(100000)},
         "metadata": {"pad": "x" * rnd.randrange(100, 400)}}
    if rnd.random() < 0.5:
        e["tenant"] = "t%d" % rnd.randrange(20)
    if rnd.random() < 0.5:
        e["id"] = "ev-%d-%d" % (seed, i)
    print(json.dumps(e))
PY
}
