#!/usr/bin/env bash
# sealtrail verify --url: a log exported tile by tile with `sealtrail tile`
# and served by python3 -m http.server on loopback verifies; a flipped byte
# in a hash tile, a level-1 tile or an entry bundle, a missing tile, an
# oversized response, a redirect, a checkpoint by another key, a forked
# log signed with the real key, and a rolled-back checkpoint each exit 1
# naming the path or the two sizes; the saved state only moves forward.
set -euo pipefail
ST=${SEALTRAIL:?}
T=$(mktemp -d)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
export NO_PROXY='*' no_proxy='*'       # loopback only: never through a proxy
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy
pass=0 fail=0
ok() { pass=$((pass+1)); echo "ok - $1"; }
no() { fail=$((fail+1)); echo "not ok - $1"; }
expect() { if eval "$2"; then ok "$1"; else no "$1"; sed 's/^/    /' "$T/out" "$T/err" 2>/dev/null | head -20; fi; }

events() { # events COUNT SALT
	python3 -c 'import json,sys
for i in range(int(sys.argv[1])):
    print(json.dumps({"time":"2026-01-01T00:00:00Z","action":"a."+sys.argv[2],"actor":{"id":"u%d"%i},"resource":{"type":"t"}}))' "$1" "$2"
}

# export DIR WWW: the checkpoint, every hash tile and every entry bundle of
# the tree of the checkpoint's size, at their tlog-tiles paths.
export_log() {
	local d=$1 w=$2 p
	rm -rf "$w"
	mkdir -p "$w"
	"$ST" checkpoint --data "$d" > "$w/checkpoint"
	local n; n=$(sed -n 2p "$w/checkpoint")
	python3 -c 'import sys
def enc(i):
    s = "%03d" % (i % 1000); i //= 1000
    while i: s = "x%03d/" % (i % 1000) + s; i //= 1000
    return s
def tiles(prefix, c):
    for i in range(c // 256): print(prefix + enc(i))
    if c % 256: print(prefix + enc(c // 256) + ".p/%d" % (c % 256))
n = int(sys.argv[1]); k = 0
while (n >> (8 * k)) and k < 8: tiles("tile/%d/" % k, n >> (8 * k)); k += 1
tiles("tile/entries/", n)' "$n" > "$T/paths"
	while read -r p; do
		mkdir -p "$w/$(dirname "$p")"
		"$ST" tile --data "$d" "$p" > "$w/$p"
	done < "$T/paths"
}

flip() { # flip FILE OFFSET
	python3 -c 'import sys
p, o = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[o] ^= 0x20; open(p, "wb").write(b)' "$1" "$2"
}

# serve DIR [python args...]: starts a server on a free loopback port,
# sets PORT; retries if another process took the port first.
serve() {
	local dir=$1; shift
	for attempt in 1 2 3 4 5; do
		PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
		(cd "$dir" && exec python3 "$@" --bind 127.0.0.1 "$PORT") > "$T/http.$PORT.log" 2>&1 &
		local pid=$!
		PIDS+=("$pid")
		for _ in $(seq 1 100); do
			if ! kill -0 "$pid" 2>/dev/null; then break; fi
			if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
			sleep 0.05
		done
		kill "$pid" 2>/dev/null || true
	done
	echo "cannot start a server" >&2
	return 1
}

# run ARGS...: verify, capturing stdout/stderr and the exit code in rc.
run() { set +e; "$ST" verify "$@" > "$T/out" 2> "$T/err"; rc=$?; set -e; }

D=$T/a
"$ST" init --data "$D" --origin example.com/vu > "$T/vkey" 2>/dev/null
KEY=$(cat "$T/vkey")
events 600 x | "$ST" append --data "$D" --batch 200 > /dev/null 2>&1
WWW=$T/www
export_log "$D" "$WWW"
cp -a "$WWW" "$T/www600"
ROOT600=$(sed -n 3p "$WWW/checkpoint")
serve "$T" -m http.server
URL=http://127.0.0.1:$PORT/www
S=$T/state/verify.checkpoint

run --url "$URL" --key "$KEY" --state "$S"
expect "an honest log verifies" '[ $rc = 0 ] && grep -qxF "verified: size 600, root $ROOT600, 4 tiles, 600 entries (all), no saved checkpoint before (first run), saved now" "$T/out"'
expect "the state file is the checkpoint, mode 0600" 'cmp -s "$S" "$WWW/checkpoint" && [ "$(stat -c %a "$S")" = 600 ]'
run --url "$URL/" --key "$KEY" --state "$S"
expect "again (trailing slash): consistent with saved size 600" '[ $rc = 0 ] && grep -q "^verified: size 600, .*, consistent with saved size 600$" "$T/out"'
run --url "$URL" --key "$KEY" --state "$S" --sample 1
expect "--sample 1 checks some bundles" '[ $rc = 0 ] && grep -q "entries (sampled)" "$T/out"'

# The log grows; a copy of it at 600 will become a fork.
cp -a "$D" "$T/fork"
events 100 y | "$ST" append --data "$D" > /dev/null 2>&1
export_log "$D" "$WWW"
run --url "$URL" --key "$KEY" --state "$S"
expect "grown to 700: consistent with saved size 600" '[ $rc = 0 ] && grep -q "^verified: size 700, .*, 700 entries (all), consistent with saved size 600$" "$T/out"'
cp "$S" "$T/state700"

# Tampering, each located. The state must not move.
cp -a "$WWW" "$T/www700"
restore() { rm -rf "$WWW"; cp -a "$T/www700" "$WWW"; }
flip "$WWW/tile/0/001" 100
run --url "$URL" --key "$KEY" --state "$S"
expect "flipped hash tile: exit 1, tile named" '[ $rc = 1 ] && grep -q "tile/1/000.p/2: hash 1 " "$T/out" && grep -q "but tile/0/001 has" "$T/out" && grep -q "^FAIL: " "$T/out"'
restore
flip "$WWW/tile/1/000.p/2" 5
run --url "$URL" --key "$KEY" --state "$S"
expect "flipped level-1 tile: exit 1, tile named" '[ $rc = 1 ] && grep -q "^tile/1/000.p/2: hash 0 (subtree of entries \[0, 256))" "$T/out"'
restore
flip "$WWW/tile/entries/000" 50
run --url "$URL" --key "$KEY" --state "$S"
expect "flipped entry: exit 1, bundle and entry named" '[ $rc = 1 ] && grep -q "^tile/entries/000: entry 0 (seq 0, byte 0) hashes to [0-9a-f]\{16,64\}\.\.\., but tile/0/000 has [0-9a-f]\{16,64\}\.\.\." "$T/out"'
restore
rm "$WWW/tile/0/002.p/188"
run --url "$URL" --key "$KEY" --state "$S"
expect "missing tile: exit 1, tile named" '[ $rc = 1 ] && grep -q "^tile/0/002.p/188: cannot fetch" "$T/out"'
restore
head -c 9000 /dev/zero > "$WWW/tile/0/000"
run --url "$URL" --key "$KEY" --state "$S"
expect "oversized tile refused at the cap" '[ $rc = 1 ] && grep -q "tile/0/000: response larger than 8192 bytes" "$T/err"'
restore
expect "the state did not move" 'cmp -s "$S" "$T/state700"'

# A checkpoint by another log's key.
"$ST" init --data "$T/other" --origin example.com/vu > /dev/null 2>&1
events 700 z | "$ST" append --data "$T/other" > /dev/null 2>&1
export_log "$T/other" "$WWW"
run --url "$URL" --key "$KEY" --state "$S"
expect "checkpoint of another key: exit 1" '[ $rc = 1 ] && grep -q "^checkpoint: not signed by any given key" "$T/out"'

# A fork: same key, same origin, same first 600 entries, then others.
events 150 w | "$ST" append --data "$T/fork" > /dev/null 2>&1
export_log "$T/fork" "$WWW"
run --url "$URL" --key "$KEY" --state "$S"
expect "fork: exit 1 naming both sizes and roots" '[ $rc = 1 ] && grep -q "^checkpoint: fork: the saved checkpoint (size 700, root $(sed -n 3p "$T/state700")) is not a prefix of the server.s tree (size 750, root $(sed -n 3p "$WWW/checkpoint"))" "$T/out"'
run --url "$URL" --key "$KEY" --state "$T/fresh.checkpoint"
expect "the fork on its own verifies (only the saved state exposes it)" '[ $rc = 0 ]'

# A rollback: the server goes back to the checkpoint of 600.
rm -rf "$WWW"; cp -a "$T/www600" "$WWW"
run --url "$URL" --key "$KEY" --state "$S"
expect "rollback: exit 1 naming both sizes" '[ $rc = 1 ] && grep -q "^checkpoint: rollback: the server.s tree has size 600 (root $ROOT600), smaller than the saved checkpoint.s size 700" "$T/out"'
expect "the state still holds 700" 'cmp -s "$S" "$T/state700"'
restore

# A redirect is not followed (http.server redirects a directory).
mkdir -p "$T/redir/checkpoint"
run --url "http://127.0.0.1:$PORT/redir" --key "$KEY" --state "$T/r.checkpoint"
expect "redirect refused" '[ $rc = 1 ] && grep -q "HTTP 301 (redirects are not followed)" "$T/err"'

# Default state location: $XDG_STATE_HOME/sealtrail/verify-<16 hex of SHA-256(URL)>.checkpoint
H=$(printf %s "$URL" | sha256sum | cut -c1-16)
set +e; XDG_STATE_HOME=$T/xdg "$ST" verify --url "$URL" --key "$KEY" > "$T/out" 2> "$T/err"; rc=$?; set -e
expect "default state file under XDG_STATE_HOME, mode 0600" '[ $rc = 0 ] && [ "$(stat -c %a "$T/xdg/sealtrail/verify-$H.checkpoint")" = 600 ]'

# Token: a server that wants "Authorization: Bearer s3cret" for bundles.
cat > "$T/tokserve.py" <<'PY'
import http.server, sys
class H(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/www/tile/entries/") and self.headers.get("Authorization") != "Bearer s3cret-tok":
            self.send_error(401)
            return
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.test(HandlerClass=H, port=int(sys.argv[-1]), bind="127.0.0.1")
PY
serve "$T" "$T/tokserve.py"
TURL=http://127.0.0.1:$PORT/www
printf 's3cret-tok\n' > "$T/token"
run --url "$TURL" --key "$KEY" --state "$T/t.checkpoint"
expect "entry bundles without a token: exit 1 with a hint" '[ $rc = 1 ] && grep -q "HTTP 401 (entry bundles need an auditor token" "$T/err"'
run --url "$TURL" --key "$KEY" --state "$T/t.checkpoint" --token-file "$T/token"
expect "with --token-file: verifies" '[ $rc = 0 ]'
expect "the token is never printed" '! grep -q s3cret "$T/out" "$T/err"'
set +e; SEALTRAIL_TOKEN=s3cret-tok "$ST" verify --url "$TURL" --key "$KEY" --state "$T/t.checkpoint" > "$T/out" 2> "$T/err"; rc=$?; set -e
expect "with SEALTRAIL_TOKEN: verifies" '[ $rc = 0 ] && grep -q "consistent with saved size 700" "$T/out"'

# Usage errors exit 2.
run --url "$URL"
expect "--url without --key: exit 2" '[ $rc = 2 ]'
run --url "ftp://127.0.0.1/x" --key "$KEY"
expect "a non-http URL: exit 2" '[ $rc = 2 ]'
run --url "$URL" --data "$D" --key "$KEY"
expect "--url with --data: exit 2" '[ $rc = 2 ]'
run --url "$URL" --key "not a key"
expect "a bad key: exit 2" '[ $rc = 2 ]'
run --data "$D" --sample 3
expect "--sample without --url: exit 2" '[ $rc = 2 ]'
run --data "$D" --key "$KEY"
expect "local mode still works" '[ $rc = 0 ] && grep -q "^OK: 700 entries" "$T/out"'

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
