#!/usr/bin/env bash
# The HTTP API contract (docs/API.md, docs/TOKENS.md) against the real
# server on loopback: every endpoint's happy path and documented errors;
# the role x endpoint x tenant matrix; the meta-audit trail of reads and
# denials (and no secret anywhere in it or in the data directory); bad
# input (truncated, invalid UTF-8, 10 MB line, 10,000-deep nesting, wrong
# Content-Type, over max_body, chunked, slow clients, unknown parameters);
# idempotent retries across a restart; TLS; the per-token rate limit.
# Receipts (?wait=checkpoint), proofs, tiles and checkpoint notes are
# checked offline by tests/integration/lib/tlogcheck.py (RFC 6962/9162
# recomputation, Ed25519 through the openssl command), and by the Go judge
# of tests/conformance when go is installed.
#
# Needs curl, python3, openssl. In ctest SEALTRAIL is the binary and
# SEALTRAIL_BUILD the build dir; by hand it defaults to ./build/sealtrail.
# KEEP=1 keeps the temp dir. Prints "N passed, M failed" last; exits 1 on
# any failure.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${SEALTRAIL_SRC:-$(cd "$HERE/../.." && pwd)}
BUILD=${SEALTRAIL_BUILD:-$SRC/build}
ST=${SEALTRAIL:-$BUILD/sealtrail}
LIB=$HERE/lib/tlogcheck.py
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_loopback_only                        # loopback only: never through a proxy

for tool in curl python3 openssl; do
	command -v "$tool" >/dev/null || { echo "server_api.sh: $tool is needed"; echo "0 passed, 1 failed"; exit 1; }
done
[ -x "$ST" ] || { echo "server_api.sh: no binary at $ST (set SEALTRAIL)"; echo "0 passed, 1 failed"; exit 1; }

T=$(mktemp -d)
SPID=
cleanup() {
	if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
		kill -KILL "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	if [ "${KEEP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
T0=$(date +%s)
D=$T/data
B=$T/body
H=$T/headers
pass=0 fail=0
die() { no "$1"; echo "$pass passed, $fail failed"; exit 1; }
# What the last request got, for failure messages.
got() { printf 'got HTTP %s: %s' "$code" "$(head -c 400 "$B" 2>/dev/null | tr -d '\0')"; }
# check NAME CONDITION: CONDITION is eval'd; on failure the last response is shown.
check() { if eval "$2"; then ok "$1"; else no "$1" "$(got)"; fi; }

# http TOKEN METHOD PATH [curl args...]: the status in $code, the body in
# $B, the headers in $H. TOKEN "-" sends no Authorization; "@VALUE" sends
# "Authorization: VALUE"; anything else is a Bearer secret.
http() {
	local tok=$1 m=$2 p=$3 auth=()
	shift 3
	case $tok in
	-) ;;
	@*) auth=(-H "Authorization: ${tok#@}") ;;
	*) auth=(-H "Authorization: Bearer $tok") ;;
	esac
	code=$(curl -sS --max-time 30 -o "$B" -D "$H" -w '%{http_code}' -X "$m" "${auth[@]}" "$@" \
		"${URL_BASE:-$BASE}$p" 2>"$T/curl.err" </dev/null) || code=000
}
# hdr NAME: the value of a response header of the last request.
hdr() { tr -d '\r' < "$H" | awk -v n="$(echo "$1" | tr 'A-Z' 'a-z')" -F': ' 'tolower($1)==n { sub(/^[^:]*: /, ""); print; exit }'; }
# jv EXPR: a python expression over the last JSON body as d; strings raw, the rest as JSON.
jv() { python3 -c 'import json,sys,re
d = json.load(open(sys.argv[1], "rb"))
v = eval(sys.argv[2])
print(v if isinstance(v, str) else json.dumps(v))' "$B" "$1" 2>/dev/null; }
# jt EXPR: true when the expression holds on the last JSON body.
jt() { [ "$(jv "$1")" = true ]; }
ev() { # ev ID [TENANT] [ACTION]: one compact event; ID "-" for none
	local id=$1 tn=${2:-} act=${3:-iam.role.update}
	printf '{%s%s"time":"2026-11-27T10:00:00.123Z","action":"%s","actor":{"id":"alice","ip":"10.0.0.1"},"resource":{"type":"role","id":"r-%s"},"outcome":"success"}' \
		"$([ "$id" = - ] || printf '"id":"%s",' "$id")" "${tn:+\"tenant\":\"$tn\",}" "$act" "$id"
}
POSTJ=(-H 'Content-Type: application/json')
POSTN=(-H 'Content-Type: application/x-ndjson')

# ---- tokens ---------------------------------------------------------------
declare -A TOK TID
mk() { # mk NAME ROLE [token create args...]: TOK[NAME], TID[NAME]
	local name=$1 role=$2 s
	shift 2
	s=$("$ST" token create --data "$D" --role "$role" --name "$name" "$@" 2>"$T/mk.err" | head -1)
	[[ $s =~ ^st1_[A-Za-z0-9_-]{43}$ ]] || die "token create $name: $(cat "$T/mk.err")"
	TOK[$name]=$s
	TID[$name]=$(printf %s "$s" | sha256sum | cut -c1-12)
	echo "$s" >> "$T/secrets"
}

# ---- the server -----------------------------------------------------------
free_port() {
	python3 -c 'import random, socket
for _ in range(200):
    p = random.randrange(20000, 32000)   # below the ephemeral range
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: s.close()'
}
# start_server CONFIG_TEMPLATE [--listen]: @PORT@ and @TLSPORT@ in the
# template become free ports (PORT, TLSPORT); with --listen the plain port
# is given on the command line. Polls /healthz for up to 10 s; retries on
# another port when the chosen one was taken meanwhile.
start_server() {
	local tpl=$1 use_listen=${2:-} attempt i args
	for _ in 1 2 3; do
		PORT=$(free_port)
		TLSPORT=$(free_port)
		[ "$PORT" != "$TLSPORT" ] || continue
		sed -e "s/@PORT@/$PORT/g" -e "s/@TLSPORT@/$TLSPORT/g" "$tpl" > "$T/server.conf"
		args=(serve --data "$D" --config "$T/server.conf")
		[ -z "$use_listen" ] || args+=(--listen "127.0.0.1:$PORT")
		NSTART=$((${NSTART:-0} + 1))
		"$ST" "${args[@]}" > "$T/server$NSTART.out" 2> "$T/server$NSTART.err" &
		SPID=$!
		BASE=http://127.0.0.1:$PORT
		for i in $(seq 100); do
			if ! kill -0 "$SPID" 2>/dev/null; then
				wait "$SPID" 2>/dev/null
				SPID=
				break
			fi
			[ "$(curl -s -o /dev/null --max-time 1 -w '%{http_code}' "$BASE/healthz")" = 200 ] && return 0
			sleep 0.1
		done
		if [ -n "$SPID" ]; then
			kill -KILL "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; SPID=
			die "server did not answer /healthz within 10 s: $(cat "$T/server$NSTART.err")"
		fi
		grep -q "cannot serve" "$T/server$NSTART.err" || die "server did not start: $(cat "$T/server$NSTART.err")"
	done
	die "no free port after 3 attempts"
}
stop_server() { # SIGTERM, up to 10 s to drain; sets SRC_EXIT
	local i
	kill -TERM "$SPID" 2>/dev/null
	for i in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
	kill -0 "$SPID" 2>/dev/null && kill -KILL "$SPID" 2>/dev/null
	wait "$SPID"
	SRV_EXIT=$?
	SPID=
}
metric() { # metric NAME: its value from /metrics (operator token)
	curl -s --max-time 10 -H "Authorization: Bearer ${TOK[ops]}" "$BASE/metrics" |
		awk -v n="$1" '$1 == n { print $2; exit }'
}

# ---- setup ------------------------------------------------------------------
"$ST" init --data "$D" --origin example.com/server-api > "$T/vkey" 2>"$T/init.err" || die "init: $(cat "$T/init.err")"
VKEY=$(cat "$T/vkey")
mk prod-a producer --tenant a
mk prod-ab producer --tenant a --tenant b
mk reader-a reader --tenant a
mk aud-a auditor --tenant a
mk aud-all auditor --all-tenants
mk ma-aud auditor --all-tenants            # reads the _sealtrail stream, nothing else
mk adm admin
mk ops operator
for r in producer reader auditor legal admin operator; do mk "mx-$r" "$r" --tenant a; done
mk mx-auditor-all auditor --all-tenants
mk mx-expired reader --tenant a --expires 2s
EXPIRES_AT=$(( $(date +%s) + 3 ))
mk mx-revoked reader --tenant a
"$ST" token revoke --data "$D" mx-revoked >/dev/null 2>&1 || die "token revoke"
mk rl-reader reader --tenant a
mk rl-other reader --tenant a
mk tls-prod producer --tenant a

cat > "$T/s1.conf" <<EOF
# disk thresholds off: the test must not depend on the host's free space
space_left = 0
admin_space_left = 0
disk_full = 0
read_timeout = 2s
EOF
start_server "$T/s1.conf" --listen
ok "server 1 answers /healthz on 127.0.0.1:$PORT"

# ---- 1. ingest ----------------------------------------------------------------
echo "# ingest"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev s1)"
check "single JSON event: 200, one result with seq, id and leaf_hash" \
	'[ "$code" = 200 ] && jt "len(d[\"results\"])==1 and isinstance(d[\"results\"][0][\"seq\"],int) and d[\"results\"][0][\"id\"]==\"s1\" and len(d[\"results\"][0][\"leaf_hash\"])==44 and d[\"accepted\"]==1 and d[\"rejected\"]==0" && hdr Content-Type | grep -q "^application/json"'
SEQ_S1=$(jv 'd["results"][0]["seq"]')
LEAF_S1=$(jv 'd["results"][0]["leaf_hash"]')
ACC_A=$SEQ_S1

http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "[$(ev a1),$(ev a2),$(ev a3)]"
check "JSON array of 3: 200, results in input order with increasing seqs" \
	'[ "$code" = 200 ] && jt "[r[\"index\"] for r in d[\"results\"]]==[0,1,2] and [r[\"id\"] for r in d[\"results\"]]==[\"a1\",\"a2\",\"a3\"] and d[\"results\"][0][\"seq\"]<d[\"results\"][1][\"seq\"]<d[\"results\"][2][\"seq\"] and d[\"accepted\"]==3"'
ACC_A="$ACC_A $(jv '" ".join(str(r["seq"]) for r in d["results"])')"

{ printf '%s\r\n' "$(ev n1)"; printf '   \n'; ev n2; printf '\n{"time":"2026-11-27T10:00:00Z","action":\n'
  ev n3 b; echo; ev n4 _sealtrail; echo; ev -; echo; } > "$T/mixed.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/mixed.ndjson"
check "NDJSON with CRLF, a blank line, a bad line and two refused tenants: 207" '[ "$code" = 207 ]'
check "NDJSON results carry index and line (blank lines counted, skipped)" \
	'jt "[(r[\"index\"],r[\"line\"]) for r in d[\"results\"]]==[(0,1),(1,3),(2,4),(3,5),(4,6),(5,7)]"'
check "NDJSON: the bad line is an invalid error with a byte offset" \
	'jt "d[\"results\"][2][\"error\"][\"code\"]==\"invalid\" and d[\"results\"][2][\"error\"][\"offset\"]>0 and \"seq\" not in d[\"results\"][2]"'
check "NDJSON: tenant b is forbidden_tenant for a producer of a, naming the field" \
	'jt "d[\"results\"][3][\"error\"][\"code\"]==\"forbidden_tenant\" and d[\"results\"][3][\"error\"][\"field\"]==\"tenant\""'
check "NDJSON: the reserved tenant _sealtrail is refused" \
	'jt "d[\"results\"][4][\"error\"][\"code\"]==\"forbidden_tenant\" and \"reserved\" in d[\"results\"][4][\"error\"][\"message\"]"'
check "NDJSON: an event without id gets a server UUIDv7; accepted 3, rejected 3" \
	'jt "re.fullmatch(r\"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\", d[\"results\"][5][\"id\"]) is not None and d[\"accepted\"]==3 and d[\"rejected\"]==3"'
SEQ_NOID=$(jv 'd["results"][5]["seq"]')
ID_NOID=$(jv 'd["results"][5]["id"]')
ACC_A="$ACC_A $(jv '" ".join(str(r["seq"]) for r in d["results"] if "seq" in r)')"

http "${TOK[reader-a]}" GET "/v1/events/$SEQ_NOID"
check "the stored event has the server's id, the token's tenant and name as producer" \
	'[ "$code" = 200 ] && jt "d[\"entry\"][\"id\"]==\"$ID_NOID\" and d[\"entry\"][\"tenant\"]==\"a\" and d[\"entry\"][\"producer\"]==\"prod-a\" and d[\"entry\"][\"seq\"]==$SEQ_NOID"'

http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev b-only b)"
check "a producer of a writing only to tenant b: 403 with a forbidden_tenant result" \
	'[ "$code" = 403 ] && jt "d[\"results\"][0][\"error\"][\"code\"]==\"forbidden_tenant\" and d[\"rejected\"]==1"'
http "${TOK[prod-ab]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev no-tenant)"
check "a producer of two tenants must name the tenant (forbidden_tenant, field tenant)" \
	'[ "$code" = 403 ] && jt "d[\"results\"][0][\"error\"][\"field\"]==\"tenant\""'
http "${TOK[prod-ab]}" POST /v1/events "${POSTJ[@]}" --data-binary "[$(ev b1 b),$(ev b2 b),$(ev s1 b)]"
check "a producer of a and b writes to b; an id of tenant a is no duplicate in b" \
	'[ "$code" = 200 ] && jt "d[\"accepted\"]==3 and d[\"duplicates\"]==0"'

http "${TOK[prod-a]}" POST "/v1/events?wait=checkpoint" "${POSTJ[@]}" --data-binary "[$(ev w1),$(ev w2)]"
check "?wait=checkpoint: 200 with a checkpoint, its size and a proof per event" \
	'[ "$code" = 200 ] && jt "d[\"checkpoint_size\"]>max(r[\"seq\"] for r in d[\"results\"]) and all(r[\"proof\"].startswith(\"c2sp.org/tlog-proof@v1\n\") for r in d[\"results\"])"'
cp "$B" "$T/receipt.json"
ACC_A="$ACC_A $(jv '" ".join(str(r["seq"]) for r in d["results"])')"
jv 'd["checkpoint"]' > "$T/receipt.cp"
rok=1
for i in 0 1; do
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.stdout.write(d["results"][int(sys.argv[2])]["proof"])' "$T/receipt.json" $i > "$T/receipt.proof$i"
	leaf=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][int(sys.argv[2])]["leaf_hash"])' "$T/receipt.json" $i)
	python3 "$LIB" inclusion "$T/receipt.proof$i" "$leaf" "$VKEY" > "$T/out" 2>&1 || { rok=0; cat "$T/out"; }
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); r=d["results"][int(sys.argv[2])]
sys.exit(0 if r["proof"].endswith("\n\n" + d["checkpoint"]) or r["proof"].split("\n\n",1)[1]==d["checkpoint"] else 1)' "$T/receipt.json" $i || { rok=0; echo "proof $i embeds another checkpoint"; }
done
[ $rok = 1 ] && ok "receipt proofs recompute to the signed checkpoint's root (RFC 6962), Ed25519 valid" ||
	no "receipt proofs recompute to the signed checkpoint's root (RFC 6962), Ed25519 valid"
python3 "$LIB" note "$VKEY" "$T/receipt.cp" > "$T/out" 2>&1 &&
	[ "$(head -1 "$T/receipt.cp")" = example.com/server-api ] &&
	ok "receipt checkpoint is a note of the log's origin signed by the init key" ||
	no "receipt checkpoint is a note of the log's origin signed by the init key" "$(cat "$T/out")"
if command -v go >/dev/null && TMPDIR=$T bash "$SRC/tests/conformance/go/build.sh" "$T/stverify" > "$T/go.out" 2>&1; then
	"$T/stverify" inclusion "$VKEY" "$T/receipt.proof0" \
		"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["leaf_hash"])' "$T/receipt.json")" > "$T/out" 2>&1 &&
		ok "Go's sumdb/tlog and sumdb/note accept the receipt" || no "Go's sumdb/tlog and sumdb/note accept the receipt" "$(cat "$T/out")"
else
	echo "# skip: the Go judge could not be built ($(tail -1 "$T/go.out" 2>/dev/null))"
fi
http "${TOK[prod-a]}" POST "/v1/events?wait=soon" "${POSTJ[@]}" --data-binary "$(ev w3)"
check "?wait= other than checkpoint: 400 naming wait" '[ "$code" = 400 ] && grep -q "wait" "$B"'

# ---- 2. reads -----------------------------------------------------------------
echo "# reads"
http "${TOK[reader-a]}" GET /checkpoint
cp "$B" "$T/cp.txt"
CP_N=$(sed -n 2p "$T/cp.txt")
check "GET /checkpoint: text/plain, no-cache, origin and size lines" \
	'[ "$code" = 200 ] && hdr Content-Type | grep -q "^text/plain" && [ "$(hdr Cache-Control)" = no-cache ] && [ "$(head -1 "$B")" = example.com/server-api ] && [ "$CP_N" -gt "$SEQ_S1" ]'
python3 "$LIB" note "$VKEY" "$T/cp.txt" > "$T/out" 2>&1 && ok "GET /checkpoint is signed by the log's key (Ed25519)" ||
	no "GET /checkpoint is signed by the log's key (Ed25519)" "$(cat "$T/out")"

http "${TOK[reader-a]}" GET /v1/keys
check "GET /v1/keys: the origin and the init key, active, valid over the whole history" \
	'[ "$code" = 200 ] && jt "d[\"origin\"]==\"example.com/server-api\" and len(d[\"keys\"])==1 and d[\"keys\"][0][\"vkey\"]==\"$VKEY\" and d[\"keys\"][0][\"status\"]==\"active\" and d[\"keys\"][0][\"valid_from\"][\"checkpoint\"]==0 and d[\"keys\"][0][\"valid_from\"][\"size\"]==0 and d[\"keys\"][0][\"valid_until\"][\"checkpoint\"]==d[\"checkpoints\"]-1"'

if [ "$CP_N" -ge 256 ]; then W=256; TILE=tile/0/000; BUNDLE=tile/entries/000
else W=$CP_N; TILE=tile/0/000.p/$CP_N; BUNDLE=tile/entries/000.p/$CP_N; fi
http "${TOK[reader-a]}" GET "/$TILE"
cp "$B" "$T/tile.api"
check "GET /$TILE: octet-stream, 32 bytes a hash, immutable for a year" \
	'[ "$code" = 200 ] && [ "$(wc -c < "$B")" = $((32 * W)) ] && hdr Content-Type | grep -q "^application/octet-stream" && hdr Cache-Control | grep -q "public" && hdr Cache-Control | grep -q "max-age=31536000" && hdr Cache-Control | grep -q "immutable"'
http "${TOK[aud-a]}" GET "/$TILE"
check "a second read of the tile gives the same bytes" '[ "$code" = 200 ] && cmp -s "$B" "$T/tile.api"'
http "${TOK[aud-all]}" GET "/$BUNDLE"
cp "$B" "$T/bundle.api"
check "GET /$BUNDLE with an all-tenant auditor: 200" '[ "$code" = 200 ] && [ -s "$B" ]'
python3 "$LIB" tiles "$T/tile.api" "$T/bundle.api" "$W" $([ "$W" = "$CP_N" ] && echo "$T/cp.txt") > "$T/out" 2>&1 &&
	ok "entry bundle entries hash to the tile's leaf hashes, whose tree hash is the checkpoint root" ||
	no "entry bundle entries hash to the tile's leaf hashes, whose tree hash is the checkpoint root" "$(cat "$T/out")"
http "${TOK[reader-a]}" GET /tile/0/999
check "a tile beyond the tree: 404" '[ "$code" = 404 ]'
http "${TOK[reader-a]}" GET /tile/0/0
check "a malformed tile path: 404" '[ "$code" = 404 ]'

# /v1/checkpoints, two at a time
: > "$T/cps.jsonl"
after='' pages=0 cpok=1
while [ $pages -lt 500 ]; do
	http "${TOK[reader-a]}" GET "/v1/checkpoints?limit=2${after:+&after=$after}"
	[ "$code" = 200 ] || { cpok=0; break; }
	pages=$((pages + 1))
	jv 'json.dumps(d)' >> "$T/cps.jsonl"
	next=$(jv 'd.get("next","")')
	[ -n "$next" ] || break
	after=${next#after=}
done
python3 - "$T/cps.jsonl" > "$T/out" 2>&1 <<'PY' || cpok=0
import json, sys
pages = [json.loads(l) for l in open(sys.argv[1])]
cps = [c for p in pages for c in p["checkpoints"]]
assert all(len(p["checkpoints"]) <= 2 for p in pages), "a page holds more than limit"
assert [c["index"] for c in cps] == list(range(len(cps))), "indexes not contiguous"
assert len(cps) >= pages[0]["total"] >= 3, "total %d, paged %d" % (pages[0]["total"], len(cps))
sizes = [c["size"] for c in cps]
assert sizes == sorted(sizes) and sizes[0] == 0, "sizes not increasing from 0: %s" % sizes
assert all(c["note"].split("\n")[1] == str(c["size"]) for c in cps), "size field != note"
assert "next" not in pages[-1]
PY
[ $cpok = 1 ] && ok "GET /v1/checkpoints pages by after/limit: contiguous indexes, growing sizes, no next at the end ($pages pages)" ||
	no "GET /v1/checkpoints pages by after/limit: contiguous indexes, growing sizes, no next at the end" "$(cat "$T/out"; got)"
# the first non-empty checkpoint size, and one in the middle
K1=$(python3 -c 'import json,sys; print(min(c["size"] for l in open(sys.argv[1]) for c in json.loads(l)["checkpoints"] if c["size"] > 0))' "$T/cps.jsonl")
http "${TOK[reader-a]}" GET "/v1/checkpoints?size=$CP_N"
jv 'd["note"]' | head -c -1 > "$T/cpN.txt"
check "GET /v1/checkpoints?size=N: the checkpoint of that size" \
	'[ "$code" = 200 ] && cmp -s "$T/cpN.txt" "$T/cp.txt"'
http "${TOK[reader-a]}" GET "/v1/checkpoints?size=999999"
check "GET /v1/checkpoints?size= of no checkpoint: 404" '[ "$code" = 404 ]'
http "${TOK[reader-a]}" GET "/v1/checkpoints?limit=0"
check "GET /v1/checkpoints?limit=0: 400 naming limit" '[ "$code" = 400 ] && grep -q limit "$B"'

# proofs
http "${TOK[aud-a]}" GET "/v1/proof/inclusion?seq=$SEQ_S1"
cp "$B" "$T/incl.txt"
check "GET /v1/proof/inclusion: a text tlog-proof@v1" '[ "$code" = 200 ] && hdr Content-Type | grep -q "^text/plain" && head -1 "$B" | grep -qx "c2sp.org/tlog-proof@v1"'
python3 "$LIB" inclusion "$T/incl.txt" "$LEAF_S1" "$VKEY" > "$T/out" 2>&1 && ok "the inclusion proof of s1 verifies against its signed checkpoint" ||
	no "the inclusion proof of s1 verifies against its signed checkpoint" "$(cat "$T/out")"
http "${TOK[aud-a]}" GET "/v1/proof/inclusion?seq=$SEQ_S1&size=$CP_N"
cp "$B" "$T/incl2.txt"
[ "$code" = 200 ] && [ "$(python3 "$LIB" inclusion "$T/incl2.txt" "$LEAF_S1" "$VKEY" 2>&1)" = "$SEQ_S1 $CP_N" ] &&
	ok "GET /v1/proof/inclusion?size=N proves against the checkpoint of size N" ||
	no "GET /v1/proof/inclusion?size=N proves against the checkpoint of size N" "$(got)"
LATE=$(echo $ACC_A | tr ' ' '\n' | sort -n | tail -1)
if [ "$LATE" -ge "$K1" ]; then
	http "${TOK[aud-a]}" GET "/v1/proof/inclusion?seq=$LATE&size=$K1"
	check "an inclusion proof against a checkpoint not covering the entry: 409 with Retry-After" \
		'[ "$code" = 409 ] && [ -n "$(hdr Retry-After)" ]'
fi
http "${TOK[aud-a]}" GET "/v1/proof/inclusion"
check "GET /v1/proof/inclusion without seq: 400 naming seq" '[ "$code" = 400 ] && grep -q seq "$B"'
http "${TOK[aud-a]}" GET "/v1/proof/inclusion?seq=999999"
check "GET /v1/proof/inclusion of no entry: 404" '[ "$code" = 404 ]'
http "${TOK[aud-a]}" GET "/v1/proof/consistency?old=$K1&new=$CP_N"
cp "$B" "$T/cons.json"
http "${TOK[reader-a]}" GET "/v1/checkpoints?size=$K1"
jv 'd["note"]' | head -c -1 > "$T/cpK.txt"
python3 "$LIB" consistency "$T/cpK.txt" "$T/cp.txt" "$T/cons.json" > "$T/out" 2>&1 &&
	ok "GET /v1/proof/consistency $K1..$CP_N verifies between the two signed roots (RFC 9162)" ||
	no "GET /v1/proof/consistency $K1..$CP_N verifies between the two signed roots (RFC 9162)" "$(cat "$T/out" "$T/cons.json")"
http "${TOK[aud-a]}" GET "/v1/proof/consistency?old=$CP_N&new=$K1"
check "GET /v1/proof/consistency with old > new: 400" '[ "$code" = 400 ]'
http "${TOK[aud-a]}" GET "/v1/proof/consistency?old=1"
check "GET /v1/proof/consistency without new: 400" '[ "$code" = 400 ] && grep -q new "$B"'

# events by seq, by id, by tenant
http "${TOK[reader-a]}" GET "/v1/events/$SEQ_S1"
cp "$B" "$T/e_s1.json"
check "GET /v1/events/{seq}: 200 with seq, leaf_hash and the stored entry" \
	'[ "$code" = 200 ] && jt "d[\"seq\"]==$SEQ_S1 and d[\"leaf_hash\"]==\"$LEAF_S1\" and d[\"entry\"][\"id\"]==\"s1\" and \"proof\" not in d"'
[ "$(python3 "$LIB" entry "$T/e_s1.json" 2>&1)" = "$LEAF_S1" ] && ok "SHA-256(0x00 || the entry's exact bytes) is the ingest ack's leaf hash" ||
	no "SHA-256(0x00 || the entry's exact bytes) is the ingest ack's leaf hash" "$(python3 "$LIB" entry "$T/e_s1.json" 2>&1)"
for i in $(seq 30); do
	http "${TOK[aud-a]}" GET "/v1/events/$SEQ_S1?proof=1"
	jt '"proof" in d and d["proof"] is not None' && break
	sleep 0.1
done
jv 'd["proof"]' > "$T/eproof.txt"
[ "$code" = 200 ] && python3 "$LIB" inclusion "$T/eproof.txt" "$LEAF_S1" "$VKEY" > "$T/out" 2>&1 &&
	ok "GET /v1/events/{seq}?proof=1 (auditor) carries a verifying proof" ||
	no "GET /v1/events/{seq}?proof=1 (auditor) carries a verifying proof" "$(cat "$T/out"; got)"
http "${TOK[reader-a]}" GET /v1/events/abc
check "GET /v1/events/abc: 400" '[ "$code" = 400 ]'
http "${TOK[reader-a]}" GET /v1/events/999999
check "GET /v1/events/{seq} beyond the tree: 404" '[ "$code" = 404 ]'
http "${TOK[reader-a]}" GET /v1/events/by-id/s1
check "GET /v1/events/by-id/{id} (the token's tenant): the event" '[ "$code" = 200 ] && jt "d[\"seq\"]==$SEQ_S1"'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "[$(ev 'ord:1 x'),$(ev 'orders/2')]"
SEQ_ODD=$(jv 'd["results"][0]["seq"]')
SEQ_SLASH=$(jv 'd["results"][1]["seq"]')
ACC_A="$ACC_A $SEQ_ODD $SEQ_SLASH"
http "${TOK[reader-a]}" GET "/v1/events/by-id/ord%3A1%20x?tenant=a"
check "GET /v1/events/by-id/ with a percent-encoded id (colon, space)" '[ "$code" = 200 ] && jt "d[\"seq\"]==$SEQ_ODD and d[\"entry\"][\"id\"]==\"ord:1 x\""'
# EVENT.md allows any id of 1-128 bytes without control characters, "/" too.
http "${TOK[reader-a]}" GET "/v1/events/by-id/orders%2F2?tenant=a"
check "GET /v1/events/by-id/orders%2F2 finds the event with id \"orders/2\"" '[ "$code" = 200 ] && jt "d[\"seq\"]==$SEQ_SLASH"'
http "${TOK[reader-a]}" GET /v1/events/by-id/no-such-id
check "GET /v1/events/by-id/ of an unknown id: 404" '[ "$code" = 404 ]'
http "${TOK[aud-all]}" GET /v1/events/by-id/s1
check "by-id with an all-tenant token and no ?tenant=: 400 naming tenant" '[ "$code" = 400 ] && grep -q tenant "$B"'

python3 "$LIB" stream "$BASE" "${TOK[reader-a]}" a "$T/stream_a.json" 2 > "$T/out" 2>&1
python3 - "$T/stream_a.json" $ACC_A > "$T/out2" 2>&1 <<'PY' && ok "GET /v1/events?tenant=a pages by after_seq/limit=2: exactly tenant a's accepted events, in log order" || no "GET /v1/events?tenant=a pages by after_seq/limit=2: exactly tenant a's accepted events, in log order" "$(cat "$T/out" "$T/out2")"
import json, sys
d = json.load(open(sys.argv[1]))
seqs = [e["seq"] for e in d["events"]]
want = sorted(set(int(x) for x in sys.argv[2:]))
assert seqs == want, "got %s want %s" % (seqs, want)
assert all(e["entry"]["tenant"] == "a" for e in d["events"])
assert d["pages"] >= len(want) // 2
PY
http "${TOK[reader-a]}" GET "/v1/events?sort=seq&fresh=1&limit=1"
check "GET /v1/events without tenant= uses the token's single tenant" '[ "$code" = 200 ] && jt "d[\"events\"][0][\"entry\"][\"tenant\"]==\"a\" and \"next_after_seq\" in d and d[\"tree_size\"]>0"'
http "${TOK[reader-a]}" GET "/v1/events?tenant=a&limit=1001"
check "GET /v1/events?limit=1001: 400 naming limit" '[ "$code" = 400 ] && grep -q limit "$B"'

http - GET /healthz
check "GET /healthz without a token: 200 {\"alive\":true}" '[ "$code" = 200 ] && jt "d=={\"alive\":True}"'
for i in $(seq 20); do http "${TOK[ops]}" GET /readyz; [ "$code" = 200 ] && break; sleep 0.2; done
check "GET /readyz (operator): 200, ready" '[ "$code" = 200 ] && jt "d[\"ready\"] is True and d[\"log_writable\"] is True"'
http "${TOK[ops]}" GET /metrics
check "GET /metrics (operator): Prometheus text with the tree size" \
	'[ "$code" = 200 ] && hdr Content-Type | grep -q "^text/plain" && grep -q "^sealtrail_tree_size " "$B" && grep -q "^# TYPE sealtrail_http_requests_total counter" "$B"'

# ---- 3. tokens over the API ----------------------------------------------------
echo "# tokens"
http "${TOK[adm]}" POST "/v1/tokens?role=reader&tenants=a&name=api-reader&expires_in=3600"
API_SECRET=$(jv 'd["token"]')
echo "$API_SECRET" >> "$T/secrets"
check "POST /v1/tokens: 201, st1_ secret shown once, no-store" \
	'[ "$code" = 201 ] && [[ $API_SECRET =~ ^st1_[A-Za-z0-9_-]{43}$ ]] && [ "$(hdr Cache-Control)" = no-store ] && jt "d[\"shown_once\"] is True and d[\"info\"][\"name\"]==\"api-reader\" and d[\"info\"][\"role\"]==\"reader\" and d[\"info\"][\"tenants\"]==[\"a\"] and \"expires\" in d[\"info\"] and d[\"info\"][\"status\"]==\"active\""'
API_ID=$(jv 'd["info"]["id"]')
check "the token's id is the first 12 hex digits of SHA-256(secret)" '[ "$API_ID" = "$(printf %s "$API_SECRET" | sha256sum | cut -c1-12)" ]'
http "$API_SECRET" GET "/v1/events?tenant=a&limit=1"
check "the token made over the API works at once" '[ "$code" = 200 ]'
http "${TOK[adm]}" GET /v1/tokens
check "GET /v1/tokens lists it, and no secret or hash" \
	'[ "$code" = 200 ] && jt "any(t[\"name\"]==\"api-reader\" and t[\"status\"]==\"active\" for t in d[\"tokens\"])" && ! grep -q "st1_" "$B" && ! grep -Eq "[0-9a-f]{64}" "$B"'
http "${TOK[adm]}" DELETE /v1/tokens/api-reader
check "DELETE /v1/tokens/{name}: 200" '[ "$code" = 200 ]'
http "$API_SECRET" GET "/v1/events?tenant=a&limit=1"
check "the revoked token gets 401 with WWW-Authenticate: Bearer" '[ "$code" = 401 ] && hdr WWW-Authenticate | grep -q "^Bearer"'
http "${TOK[adm]}" GET /v1/tokens
check "the revoked token stays listed as revoked" '[ "$code" = 200 ] && jt "any(t[\"name\"]==\"api-reader\" and t[\"status\"]==\"revoked\" for t in d[\"tokens\"])"'
http "${TOK[adm]}" DELETE /v1/tokens/no-such-token
check "DELETE /v1/tokens/ of an unknown token: 404" '[ "$code" = 404 ]'
http "${TOK[adm]}" POST "/v1/tokens?role=root&tenants=a"
check "POST /v1/tokens with an unknown role: 400 naming role" '[ "$code" = 400 ] && grep -q role "$B"'
http "${TOK[adm]}" POST "/v1/tokens?role=reader"
check "POST /v1/tokens for a reader without tenants: 400 naming tenants" '[ "$code" = 400 ] && grep -q tenants "$B"'
http "${TOK[adm]}" PUT /v1/tokens
check "PUT /v1/tokens: 405" '[ "$code" = 405 ]'
mk cli-live reader --tenant a
for i in $(seq 40); do http "${TOK[cli-live]}" GET "/v1/events?limit=1"; [ "$code" = 200 ] && break; sleep 0.1; done
check "a token made offline by the CLI while the server runs works within 4 s" '[ "$code" = 200 ]'

# ---- 4. the role x endpoint x tenant matrix -------------------------------------
echo "# matrix"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev mx-seed-a)"
SA=$(jv 'd["results"][0]["seq"]')
http "${TOK[prod-ab]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev mx-seed-b b)"
SB=$(jv 'd["results"][0]["seq"]')
for i in $(seq 50); do   # until both are in a checkpoint, for the proof rows
	http "${TOK[aud-all]}" GET "/v1/proof/inclusion?seq=$SB"
	[ "$code" = 200 ] && break
	sleep 0.1
done
MN=$(sed -n 2p "$T/cp.txt")
MTILE=$TILE MBUNDLE=$BUNDLE
now=$(date +%s); [ "$now" -ge "$EXPIRES_AT" ] || sleep $((EXPIRES_AT - now))

# Columns: the role tokens (tenant a, "aud*" = all-tenant auditor), then no
# token, a malformed Authorization, an expired and a revoked token.
# Placeholders: {SA}/{SB} seqs of events of a/b, {N} a checkpoint size,
# {TILE}/{BUNDLE} tiles of it. Bodies: ev-a / ev-b / none.
COLS="producer reader auditor legal admin operator aud* none malformed expired revoked"
MATRIX='
#method path                                      body  prod read aud  legal admin oper aud* none malf expd revk
POST   /v1/events                                 ev-a  200  403  403  403   403   403  403  401  401  401  401
POST   /v1/events                                 ev-b  403  403  403  403   403   403  403  401  401  401  401
GET    /checkpoint                                -     200  200  200  200   200   403  200  401  401  401  401
GET    /{TILE}                                    -     200  200  200  200   200   403  200  401  401  401  401
GET    /v1/checkpoints                            -     200  200  200  200   200   403  200  401  401  401  401
GET    /v1/keys                                   -     200  200  200  200   200   403  200  401  401  401  401
GET    /{BUNDLE}                                  -     403  403  403  403   403   403  200  401  401  401  401
GET    /v1/events/{SA}                            -     403  200  200  200   403   403  200  401  401  401  401
GET    /v1/events/by-id/mx-seed-a?tenant=a        -     403  200  200  200   403   403  200  401  401  401  401
GET    /v1/events?tenant=a                        -     403  200  200  200   403   403  200  401  401  401  401
GET    /v1/events/{SA}?proof=1                    -     403  403  200  200   403   403  200  401  401  401  401
GET    /v1/proof/inclusion?seq={SA}               -     403  403  200  200   403   403  200  401  401  401  401
GET    /v1/proof/consistency?old=1&new={N}        -     403  403  200  200   403   403  200  401  401  401  401
GET    /v1/events/{SB}                            -     403  403  403  403   403   403  200  401  401  401  401
GET    /v1/events/by-id/mx-seed-b                 -     403  404  404  404   403   403  400  401  401  401  401
GET    /v1/events/by-id/mx-seed-b?tenant=b        -     403  403  403  403   403   403  200  401  401  401  401
GET    /v1/events/by-id/no-such-id?tenant=b       -     403  403  403  403   403   403  404  401  401  401  401
GET    /v1/events?tenant=b                        -     403  403  403  403   403   403  200  401  401  401  401
GET    /v1/proof/inclusion?seq={SB}               -     403  403  403  403   403   403  200  401  401  401  401
GET    /v1/tokens                                 -     403  403  403  403   200   403  403  401  401  401  401
POST   /v1/tokens?role=reader&tenants=a&name=mx-made -  403  403  403  403   201   403  403  401  401  401  401
DELETE /v1/tokens/mx-made                         -     403  403  403  403   200   403  403  401  401  401  401
GET    /metrics                                   -     403  403  403  403   200   200  403  401  401  401  401
GET    /readyz                                    -     403  403  403  403   200   200  403  401  401  401  401
GET    /healthz                                   -     200  200  200  200   200   200  200  200  200  200  200
'
# Which requests the meta-audit records (docs/API.md, "Meta-audit"): reads,
# proofs, entry bundles, token operations and every 401/403.
audit_action() { # METHOD PATH STATUS -> action, or "" when not audited
	local m=$1 p=${2%%\?*} s=$3
	case $s in 401|403) echo sealtrail.access.denied; return ;; 400) return ;; esac
	case $m:$p in
	GET:/v1/events/by-id/*|GET:/v1/events/[0-9]*) echo sealtrail.events.read ;;
	GET:/v1/events) echo sealtrail.events.search ;;
	GET:/v1/checkpoints) echo sealtrail.checkpoints.read ;;
	GET:/v1/keys) echo sealtrail.keys.read ;;
	GET:/v1/proof/inclusion) echo sealtrail.proof.inclusion ;;
	GET:/v1/proof/consistency) echo sealtrail.proof.consistency ;;
	GET:/tile/entries/*) echo sealtrail.tiles.entries.read ;;
	GET:/v1/tokens) echo sealtrail.tokens.list ;;
	POST:/v1/tokens) echo sealtrail.tokens.create ;;
	DELETE:/v1/tokens/*) echo sealtrail.tokens.revoke ;;
	esac
}
declare -A MXTOK=([producer]=mx-producer [reader]=mx-reader [auditor]=mx-auditor [legal]=mx-legal
	[admin]=mx-admin [operator]=mx-operator [aud*]=mx-auditor-all [expired]=mx-expired [revoked]=mx-revoked)
declare -A MXROLE=([producer]=producer [reader]=reader [auditor]=auditor [legal]=legal
	[admin]=admin [operator]=operator [aud*]=auditor)
: > "$T/audit_expect.jsonl"
mx_fail=0 mx_n=0 row=0
while read -r m p body e1 e2 e3 e4 e5 e6 e7 e8 e9 e10 e11; do
	case $m in ''|'#'*) continue ;; esac
	row=$((row + 1))
	p=${p//\{SA\}/$SA}; p=${p//\{SB\}/$SB}; p=${p//\{N\}/$MN}
	p=${p//\{TILE\}/$MTILE}; p=${p//\{BUNDLE\}/$MBUNDLE}
	exp=($e1 $e2 $e3 $e4 $e5 $e6 $e7 $e8 $e9 $e10 $e11)
	k=0
	for col in $COLS; do
		want=${exp[$k]}
		k=$((k + 1))
		pp=$p marker=
		case $col in
		none|malformed|expired|revoked)
			# the 401s are anonymous in the audit trail: a marker parameter
			# (looked at only after authentication) tells them apart
			marker="mx=$col-$row"
			case $p in *\?*) pp="$p&$marker" ;; *) pp="$p?$marker" ;; esac ;;
		esac
		case $col in
		none) tok=- ;;
		malformed) tok="@Bearer st1_not-a-real-token" ;;
		*) tok=${TOK[${MXTOK[$col]}]} ;;
		esac
		args=()
		case $body in
		ev-a) args=("${POSTJ[@]}" --data-binary "$(ev "mx-$col-$row")") ;;
		ev-b) args=("${POSTJ[@]}" --data-binary "$(ev "mx-$col-$row" b)") ;;
		esac
		http "$tok" "$m" "$pp" "${args[@]}"
		mx_n=$((mx_n + 1))
		if [ "$code" != "$want" ]; then
			mx_fail=$((mx_fail + 1))
			no "matrix: role $col, $m $pp: expected $want, got $code" "$(head -c 300 "$B")"
		fi
		if [ "$want" = 401 ] && [ "$code" = 401 ] && ! hdr WWW-Authenticate | grep -q '^Bearer'; then
			mx_fail=$((mx_fail + 1)); no "matrix: role $col, $m $pp: 401 without WWW-Authenticate: Bearer"
		fi
		# what the audit trail must hold for this request
		act=$(audit_action "$m" "$p" "$want")
		[ "$p" = /healthz ] && act=
		case $col in none|malformed|expired|revoked) actor=anonymous aid='' role='' ;;
		*) actor=${MXTOK[$col]} aid=${TID[$actor]} role=${MXROLE[$col]} ;; esac
		printf '{"col":"%s","actor":"%s","auth":"%s","role":"%s","action":"%s","status":"%s","method":"%s","path":"%s","query":"%s"}\n' \
			"$col" "$actor" "$aid" "$role" "$act" "$want" "$m" "${pp%%\?*}" "$(case $pp in *\?*) echo "${pp#*\?}" ;; esac)" >> "$T/audit_expect.jsonl"
	done
done <<< "$MATRIX"
[ $mx_fail = 0 ] && ok "matrix: $mx_n requests (roles x endpoints x tenants, no/malformed/expired/revoked token) got the documented status" ||
	no "matrix: $mx_fail of $mx_n requests got another status than the table's (listed above)"

n_exp=$(metric 'sealtrail_auth_failures_total{reason="expired"}')
n_rev=$(metric 'sealtrail_auth_failures_total{reason="revoked"}')
check "the expired and revoked columns were refused as expired ($n_exp) and revoked ($n_rev), not unknown" \
	'[ "${n_exp:-0}" -ge 24 ] && [ "${n_rev:-0}" -ge 24 ]'
http "${TOK[reader-a]}" GET "/v1/events?tenant=a&fresh=1&limit=1000"
check "a reader of a listing tenant a sees only tenant a's events" '[ "$code" = 200 ] && jt "all(e[\"entry\"][\"tenant\"]==\"a\" for e in d[\"events\"]) and len(d[\"events\"])>0"'
http "${TOK[mx-producer]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev mx-b-check b)"
check "producer of a writing to b: the result names forbidden_tenant" '[ "$code" = 403 ] && jt "d[\"results\"][0][\"error\"][\"code\"]==\"forbidden_tenant\""'
echo '{"col":"producer","actor":"mx-producer","auth":"'"${TID[mx-producer]}"'","role":"producer","action":"sealtrail.access.denied","status":"403","method":"POST","path":"/v1/events","query":""}' >> "$T/audit_expect.jsonl"
for v in "Basic dXNlcjpwYXNz" "Bearer" "Bearer ${TOK[reader-a]}x" "${TOK[reader-a]}" "Bearer st1_$(printf 'A%.0s' $(seq 43))"; do
	http "@$v" GET "/v1/events?tenant=a"
	[ "$code" = 401 ] && hdr WWW-Authenticate | grep -q '^Bearer' || { no "malformed Authorization \"${v:0:20}...\": 401 with WWW-Authenticate" "$(got)"; continue; }
	ok "malformed or unknown Authorization \"${v:0:16}...\": 401"
done

# ---- 5. the meta-audit trail ----------------------------------------------------
echo "# meta-audit"
# Poll: the audit events are queued before each response and committed in
# the next group commit. Requests with the same actor, method, path and
# query are compared as a multiset of (action, status, outcome).
PAGES_SUM=0
for i in 1 2 3 4 5 6; do
	python3 "$LIB" stream "$BASE" "${TOK[ma-aud]}" _sealtrail "$T/audit1.json" > "$T/out" 2>&1
	P1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages"])' "$T/audit1.json")
	PAGES_SUM=$((PAGES_SUM + P1))
	python3 - "$T/audit1.json" "$T/audit_expect.jsonl" > "$T/audit_check.out" 2>&1 <<'PY' && break
import collections, json, sys
evs = [e["entry"] for e in json.load(open(sys.argv[1]))["events"]]
groups, info = collections.OrderedDict(), {}
for line in open(sys.argv[2]):
    x = json.loads(line)
    key = (x["actor"], x["method"], x["path"], x["query"])
    groups.setdefault(key, [])
    info.setdefault(key, []).append(x)
    if x["action"]:
        groups[key].append((x["action"], x["status"], "denied" if x["status"] in ("401", "403") else "success"))
bad = 0
for key, want in groups.items():
    got = [e for e in evs if e["actor"]["id"] == key[0] and e["metadata"].get("method") == key[1]
           and e["metadata"].get("path") == key[2] and e["metadata"].get("query") == key[3]]
    g = sorted((e["action"], e["metadata"].get("status"), e["outcome"]) for e in got)
    x = info[key][0]
    where = "role %s, %s %s%s" % ("/".join(sorted(set(i["col"] for i in info[key]))), key[1], key[2],
                                  "?" + key[3] if key[3] else "")
    if g != sorted(want):
        bad += 1
        print("%s: expected audit events %s, found %s" % (where, sorted(want) or "none", g or "none"))
        continue
    for e in got:
        errs = []
        if e["actor"].get("ip") != "127.0.0.1": errs.append("actor.ip %s" % e["actor"].get("ip"))
        if e["tenant"] != "_sealtrail": errs.append("tenant %s" % e["tenant"])
        if x["auth"] and (e["actor"].get("auth") != x["auth"] or e["metadata"].get("role") != x["role"]):
            errs.append("actor.auth %s role %s" % (e["actor"].get("auth"), e["metadata"].get("role")))
        if errs:
            bad += 1; print("%s: %s" % (where, ", ".join(errs)))
sys.exit(1 if bad else 0)
PY
	sleep 0.5
done
[ -s "$T/audit_check.out" ] && no "meta-audit: every matrix request is recorded as documented (action, outcome, status, actor)" "$(head -40 "$T/audit_check.out")" ||
	ok "meta-audit: every matrix request is recorded as documented (action, outcome, status, actor)"
audit_reads() { python3 -c 'import json,sys
evs = [e["entry"] for e in json.load(open(sys.argv[1]))["events"]]
print(sum(1 for e in evs if e["actor"]["id"] == "ma-aud" and e["action"] == "sealtrail.events.search" and e["metadata"]["query"].startswith("tenant=_sealtrail")))' "$1"; }
sleep 0.5
python3 "$LIB" stream "$BASE" "${TOK[ma-aud]}" _sealtrail "$T/audit2.json" > "$T/out" 2>&1
P2=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pages"])' "$T/audit2.json")
n2=$(audit_reads "$T/audit2.json")
# Every page read before this dump is recorded exactly once; this dump's own
# page reads may or may not be in it yet; nothing else.
[ "$n2" -ge "$PAGES_SUM" ] && [ "$n2" -le $((PAGES_SUM + P2)) ] &&
	ok "reading the _sealtrail stream records one event per page read and does not feed back ($n2 events, $PAGES_SUM+$P2 page reads)" ||
	no "reading the _sealtrail stream records one event per page read and does not feed back" "ma-aud list events: $n2; page reads before: $PAGES_SUM (+$P2 in flight)"
python3 - "$T/audit2.json" "$SB" <<'PY' > "$T/out" 2>&1 && ok "a cross-tenant read by seq is a denial naming the tenant; a by-id miss in the scope is audited 404" || no "a cross-tenant read by seq is a denial naming the tenant; a by-id miss in the scope is audited 404" "$(cat "$T/out")"
import json, sys
evs = [e["entry"] for e in json.load(open(sys.argv[1]))["events"]]
d = [e for e in evs if e["actor"]["id"] == "mx-reader" and e["metadata"]["path"] == "/v1/events/" + sys.argv[2]]
assert len(d) == 1 and d[0]["action"] == "sealtrail.access.denied" and "tenant" in d[0].get("reason", ""), d
m = [e for e in evs if e["actor"]["id"] == "mx-reader" and e["metadata"]["path"] == "/v1/events/by-id/mx-seed-b"
     and e["metadata"]["query"] == ""]
assert len(m) == 1 and m[0]["metadata"]["status"] == "404" and m[0]["outcome"] == "success", m
PY
leak=0
while read -r s; do
	for f in "$T/audit1.json" "$T/audit2.json"; do grep -qF "$s" "$f" && { leak=1; echo "secret ${s:0:8}... in $f"; }; done
done < "$T/secrets"
[ $leak = 0 ] && ok "no token secret in the _sealtrail events" || no "no token secret in the _sealtrail events"

# ---- 6. malformed input ----------------------------------------------------------
echo "# malformed input"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary '{"time":"2026-11-27T10:00:00Z","action":"a.b"'
check "truncated JSON: 400 malformed_body naming line and byte" '[ "$code" = 400 ] && jt "d[\"error\"][\"code\"]==\"malformed_body\" and \"line 1, byte\" in d[\"error\"][\"message\"]"'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "$(ev tg1) x"
check "trailing garbage after the JSON value: 400" '[ "$code" = 400 ] && jt "d[\"error\"][\"code\"]==\"malformed_body\""'
printf '{"time":"2026-11-27T10:00:00Z","action":"a.\xff","actor":{"id":"x"},"resource":{"type":"t"}}' > "$T/utf8.json"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary @"$T/utf8.json"
check "invalid UTF-8 (0xFF): 400, an invalid result naming UTF-8 and the field" \
	'[ "$code" = 400 ] && jt "d[\"results\"][0][\"error\"][\"code\"]==\"invalid\" and \"UTF-8\" in d[\"results\"][0][\"error\"][\"message\"] and d[\"results\"][0][\"error\"][\"field\"]==\"action\""'
printf '{"time":"2026-11-27T10:00:00Z","action":"a.cc","actor":{"id":"x"},"resource":{"type":"t"},"source":{"host":"h","client_cert":"CN=forged"}}' > "$T/ccert.json"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary @"$T/ccert.json"
check "source.client_cert from an HTTP producer: 400, an invalid result naming the field (only a syslog listener writes it)" \
	'[ "$code" = 400 ] && jt "d[\"results\"][0][\"error\"][\"code\"]==\"invalid\" and d[\"results\"][0][\"error\"][\"field\"]==\"source.client_cert\" and d[\"rejected\"]==1"'
{ ev u1; printf '\n\xff\xfe\n'; ev u2; echo; } > "$T/utf8.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/utf8.ndjson"
check "an NDJSON line of raw 0xFF 0xFE is refused alone: 207" '[ "$code" = 207 ] && jt "d[\"accepted\"]==2 and d[\"results\"][1][\"error\"][\"code\"]==\"invalid\""'
python3 -c 'import json; print(json.dumps({"time":"2026-11-27T10:00:00Z","action":"a.big","actor":{"id":"x"},"resource":{"type":"t"},"reason":"r"*(10*1024*1024)}))' > "$T/big.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/big.ndjson"
check "a 10 MB single-line event: refused (400/413) with a limit error naming the limit" \
	'{ [ "$code" = 413 ] || [ "$code" = 400 ]; } && jt "d[\"results\"][0][\"error\"][\"code\"]==\"limit\" and \"limit\" in d[\"results\"][0][\"error\"][\"message\"] and d[\"accepted\"]==0"'
http - GET /healthz
check "the server still serves after the 10 MB line" '[ "$code" = 200 ]'
python3 -c 'print("{\"time\":\"2026-11-27T10:00:00Z\",\"action\":\"a\",\"actor\":{\"id\":\"x\"},\"resource\":{\"type\":\"t\"},\"metadata\":" + "{\"a\":"*10000 + "1" + "}"*10000 + "}")' > "$T/deep.json"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/deep.json"
check "NDJSON event nested 10,000 deep: a limit result naming max_depth" \
	'{ [ "$code" = 413 ] || [ "$code" = 400 ]; } && jt "d[\"results\"][0][\"error\"][\"code\"]==\"limit\" and \"max_depth\" in d[\"results\"][0][\"error\"][\"message\"]"'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary @"$T/deep.json"
# API.md: a broken framing is 400; 413 is for max_body or max_batch_events.
check "JSON event nested 10,000 deep: 400 (or a per-event limit result), not too_many_events" \
	'{ [ "$code" = 400 ] || { [ "$code" = 413 ] && jt "d[\"results\"][0][\"error\"][\"code\"]==\"limit\""; }; } && grep -q "nest\|depth" "$B"'
python3 -c 'print("["*10000 + "]"*10000)' > "$T/deeparr.json"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary @"$T/deeparr.json"
check "a JSON body of 10,000 nested arrays: 400" '[ "$code" = 400 ]'
http "${TOK[prod-a]}" POST /v1/events -H 'Content-Type: text/plain' --data-binary "$(ev ct1)"
check "Content-Type text/plain: 415" '[ "$code" = 415 ] && jt "d[\"error\"][\"code\"]==\"unsupported_media_type\""'
http "${TOK[prod-a]}" POST /v1/events -H 'Content-Type:' --data-binary "$(ev ct2)"
check "no Content-Type: 415" '[ "$code" = 415 ]'
http "${TOK[prod-a]}" POST /v1/events -H 'Content-Type: application/json; charset=iso-8859-1' --data-binary "$(ev ct3)"
check "a non-UTF-8 charset: 415" '[ "$code" = 415 ]'
yes '{}' | head -10001 > "$T/many.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/many.ndjson"
check "10,001 events in one request: 413 naming the limit" '[ "$code" = 413 ] && grep -q 10000 "$B"'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary '[]'
check "an empty array: 400" '[ "$code" = 400 ]'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" -H 'Transfer-Encoding: chunked' --data-binary "[$(ev ch1),$(ev ch2)]"
check "a chunked JSON body is accepted" '[ "$code" = 200 ] && jt "d[\"accepted\"]==2"'
{ for i in $(seq 200); do ev "chn$i"; echo; done; } > "$T/chunked.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$T/chunked.ndjson"
check "a chunked NDJSON body of 200 events is accepted" '[ "$code" = 200 ] && jt "d[\"accepted\"]==200"'
uq_fail=
for spec in "${TOK[prod-a]} POST /v1/events" "${TOK[aud-a]} GET /v1/checkpoints" "${TOK[aud-a]} GET /v1/events?tenant=a" \
	"${TOK[aud-a]} GET /v1/events/$SEQ_S1" "${TOK[aud-a]} GET /v1/events/by-id/s1" "${TOK[aud-a]} GET /v1/proof/inclusion?seq=$SEQ_S1" \
	"${TOK[aud-a]} GET /v1/proof/consistency?old=1&new=2" "${TOK[aud-a]} GET /v1/keys" "${TOK[adm]} GET /v1/tokens"; do
	set -- $spec
	case $3 in *\?*) u="$3&bogus=1" ;; *) u="$3?bogus=1" ;; esac
	if [ "$2" = POST ]; then http "$1" POST "$u" "${POSTJ[@]}" --data-binary "$(ev uq1)"; else http "$1" GET "$u"; fi
	[ "$code" = 400 ] && grep -q '\\"bogus\\"' "$B" || uq_fail="$uq_fail
$2 $u: got $code $(head -c 150 "$B")"
done
[ -z "$uq_fail" ] && ok "an unknown query parameter is 400 naming it, on every /v1 endpoint" ||
	no "an unknown query parameter is 400 naming it, on every /v1 endpoint" "${uq_fail#?}"
http "${TOK[aud-a]}" GET "/v1/events?tenant=a&tenant=a"
check "a repeated parameter: 400" '[ "$code" = 400 ] && grep -q twice "$B"'
http "${TOK[aud-a]}" GET "/v1/keys?x=$(head -c 9000 /dev/zero | tr '\0' a)"
check "a URI over 8 KiB: 414" '[ "$code" = 414 ]'
http "${TOK[aud-a]}" GET /v1/nothing-here
check "an unknown endpoint: 404" '[ "$code" = 404 ]'
for mp in "PUT /v1/events" "DELETE /checkpoint" "POST /metrics" "POST /healthz"; do
	http "${TOK[adm]}" $mp
	check "$mp: 405" '[ "$code" = 405 ]'
done

# Slow clients: read_timeout = 2s. One dribbles its body, one its request
# line from the first byte; meanwhile another client is served at once.
cut0=$(metric sealtrail_slow_clients_cut_total)
python3 "$LIB" slow "$PORT" body 6 > "$T/slow.body" 2>&1 &
SB_PID=$!
python3 "$LIB" slow "$PORT" line 6 > "$T/slow.line" 2>&1 &
SL_PID=$!
sleep 0.5
t_a=$(date +%s%N)
http "${TOK[aud-a]}" GET /v1/keys
t_b=$(date +%s%N)
check "a request in parallel with two slow clients completes in under 1 s" '[ "$code" = 200 ] && [ $(( (t_b - t_a) / 1000000 )) -lt 1000 ]'
wait "$SB_PID"; wait "$SL_PID"
sbody=$(cat "$T/slow.body") sline=$(cat "$T/slow.line")
[[ $sbody =~ ^[0-9.]+$ ]] && python3 -c "import sys; sys.exit(0 if 1.5 <= $sbody <= 3.5 else 1)" &&
	ok "a client dribbling its body is cut after read_timeout (${sbody} s)" ||
	no "a client dribbling its body is cut after read_timeout (2 s, ~2.5 s allowed)" "got: $sbody"
[[ $sline =~ ^[0-9.]+$ ]] && python3 -c "import sys; sys.exit(0 if $sline <= 3.5 else 1)" &&
	ok "a client dribbling its request line is cut after read_timeout (${sline} s)" ||
	no "a client dribbling its request line is cut after read_timeout (2 s, ~2.5 s allowed)" "got: $sline (\"open\": still connected after 6 s)"
cut1=$(metric sealtrail_slow_clients_cut_total)
check "sealtrail_slow_clients_cut_total grew ($cut0 -> $cut1)" '[ -n "$cut1" ] && [ "${cut1%.*}" -gt "${cut0%.*}" ]'

# ---- 7. idempotent retries ---------------------------------------------------------
echo "# idempotency"
{ ev idem1; echo; ev idem2; echo; ev idem3; echo; } > "$T/idem.ndjson"
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/idem.ndjson"
cp "$B" "$T/idem1.json"
check "three events with ids: accepted" '[ "$code" = 200 ] && jt "d[\"accepted\"]==3"'
size0=$(metric sealtrail_tree_size)
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/idem.ndjson"
cp "$B" "$T/idem2.json"
size1=$(metric sealtrail_tree_size)
same_acks() { python3 -c 'import json,sys
a = json.load(open(sys.argv[1]))["results"]; b = json.load(open(sys.argv[2]))["results"]
ok = len(a) == len(b) == 3 and all(x["seq"] == y["seq"] and x["leaf_hash"] == y["leaf_hash"] and x["id"] == y["id"]
     and y.get("duplicate") is True and "duplicate" not in x for x, y in zip(a, b))
sys.exit(0 if ok else 1)' "$1" "$2"; }
check "a retry: 200, every result duplicate:true with the original seq and leaf_hash" '[ "$code" = 200 ] && jt "d[\"duplicates\"]==3 and d[\"accepted\"]==0" && same_acks "$T/idem1.json" "$T/idem2.json"'
check "the retry does not grow the tree ($size0 -> $size1)" '[ -n "$size0" ] && [ "$size0" = "$size1" ]'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary "[$(ev dupin),$(ev dupin)]"
check "the same id twice in one request: one seq, the second a duplicate" \
	'[ "$code" = 200 ] && jt "d[\"results\"][0][\"seq\"]==d[\"results\"][1][\"seq\"] and d[\"results\"][1].get(\"duplicate\") is True and \"duplicate\" not in d[\"results\"][0]"'

# ---- offline, server stopped -----------------------------------------------------
http - GET /healthz
check "after all the bad input the server still answers /healthz" '[ "$code" = 200 ] && kill -0 "$SPID"'
stop_server
check "SIGTERM: the server drains and exits 0" '[ "$SRV_EXIT" = 0 ]'
"$ST" tile --data "$D" "$TILE" > "$T/tile.cli" 2> "$T/out"
check "the API's $TILE is byte for byte \`sealtrail tile\`" 'cmp -s "$T/tile.cli" "$T/tile.api"'
"$ST" tile --data "$D" "$BUNDLE" > "$T/bundle.cli" 2> "$T/out"
check "the API's $BUNDLE is byte for byte \`sealtrail tile\`" 'cmp -s "$T/bundle.cli" "$T/bundle.api"'
"$ST" verify --data "$D" --key "$VKEY" > "$T/out" 2>&1
check "sealtrail verify accepts the log the server wrote" 'grep -q "^OK" "$T/out"'
secret_grep() { # no secret in the data directory or the server's output
	local s leaks=
	while read -r s; do
		if grep -rlF "$s" "$D" "$T"/server*.out "$T"/server*.err > "$T/leak" 2>/dev/null; then leaks="$leaks ${s:0:8}...:$(tr '\n' ' ' < "$T/leak")"; fi
	done < "$T/secrets"
	[ -z "$leaks" ] || { echo "    leaked:$leaks"; return 1; }
}
check "no token secret ($(wc -l < "$T/secrets") made) anywhere in the data directory or server output" 'secret_grep'

# ---- 8. server 2: restart, TLS, max_body, rate limit -------------------------------
echo "# restart, TLS, max_body, rate limit"
mkdir -p "$T/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 -days 1 -keyout "$T/tls/key.pem" -out "$T/tls/cert.pem" > "$T/tls/out" 2>&1 ||
	die "openssl req: $(cat "$T/tls/out")"
cat > "$T/s2.conf" <<EOF
listen = 127.0.0.1:@PORT@
listen_tls = 127.0.0.1:@TLSPORT@
tls_cert = $T/tls/cert.pem
tls_key = $T/tls/key.pem
max_body = 1M
rate_per_token = 5
rate_burst = 5
space_left = 0
admin_space_left = 0
disk_full = 0
EOF
start_server "$T/s2.conf"
ok "server 2 (plain + TLS listeners) answers /healthz"
size0=$(metric sealtrail_tree_size)
http "${TOK[prod-a]}" POST /v1/events "${POSTN[@]}" --data-binary @"$T/idem.ndjson"
cp "$B" "$T/idem3.json"
size1=$(metric sealtrail_tree_size)
check "after a restart a retry is still duplicate:true with the original seq and leaf_hash" '[ "$code" = 200 ] && same_acks "$T/idem1.json" "$T/idem3.json"'
check "the retry after the restart does not grow the tree ($size0 -> $size1)" '[ -n "$size0" ] && [ "$size0" = "$size1" ]'

head -c $((2 << 20)) /dev/zero | tr '\0' ' ' > "$T/2m.json"
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" --data-binary @"$T/2m.json"
check "a 2 MB body with max_body = 1M: 413" '[ "$code" = 413 ] && grep -q max_body "$B"'
http "${TOK[prod-a]}" POST /v1/events "${POSTJ[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$T/2m.json"
check "a 2 MB chunked body with max_body = 1M: 413" '[ "$code" = 413 ]'
http - GET /healthz
check "the server serves after the oversized bodies" '[ "$code" = 200 ]'

TLSB=https://127.0.0.1:$TLSPORT
code=$(curl -sS --max-time 10 --cacert "$T/tls/cert.pem" -o "$B" -w '%{http_code}' "$TLSB/healthz" 2>"$T/curl.err") || code=000
check "https /healthz with the test CA: 200" '[ "$code" = 200 ]'
URL_BASE=$TLSB http "${TOK[tls-prod]}" POST /v1/events --cacert "$T/tls/cert.pem" "${POSTJ[@]}" --data-binary "$(ev tls1)"
check "ingest over TLS: 200" '[ "$code" = 200 ] && jt "d[\"accepted\"]==1"'
TSEQ=$(jv 'd["results"][0]["seq"]'); TLEAF=$(jv 'd["results"][0]["leaf_hash"]')
URL_BASE=$TLSB http "${TOK[reader-a]}" GET "/v1/events/$TSEQ" --cacert "$T/tls/cert.pem"
check "read over TLS: the event with its leaf hash" '[ "$code" = 200 ] && jt "d[\"leaf_hash\"]==\"$TLEAF\" and d[\"entry\"][\"id\"]==\"tls1\""'
URL_BASE=$TLSB http "${TOK[reader-a]}" GET /checkpoint --cacert "$T/tls/cert.pem"
check "GET /checkpoint over TLS" '[ "$code" = 200 ] && [ "$(head -1 "$B")" = example.com/server-api ]'
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$TLSPORT/healthz" 2>/dev/null) || true
check "plain HTTP to the TLS port gets no HTTP answer" '[ "$code" = 000 ]'
code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$TLSB/healthz" 2>/dev/null) || true
check "https without the test CA fails certificate verification" '[ "$code" = 000 ]'

rl0=$(metric sealtrail_rate_limited_total)
urls=()
for i in $(seq 20); do urls+=("$BASE/v1/keys"); done
t_a=$(date +%s%N)
curl -s --max-time 30 -H "Authorization: Bearer ${TOK[rl-reader]}" -D "$T/rl.headers" -o /dev/null -w '%{http_code}\n' "${urls[@]}" > "$T/rl.codes"
t_b=$(date +%s%N)
n200=$(grep -c '^200$' "$T/rl.codes") n429=$(grep -c '^429$' "$T/rl.codes")
rl_max=$(( 5 + (t_b - t_a) * 5 / 1000000000 + 1 ))   # burst + elapsed x rate, +1 for rounding
check "20 quick requests at rate 5/s, burst 5: some 429 ($n429), at most burst + elapsed x rate 200 ($n200 <= $rl_max)" \
	'[ "$n429" -ge 1 ] && [ "$n200" -ge 5 ] && [ "$n200" -le "$rl_max" ] && [ $((n200 + n429)) = 20 ]'
check "every 429 carries Retry-After" '[ "$(tr -d "\r" < "$T/rl.headers" | grep -ci "^retry-after: [0-9]")" = "$n429" ]'
http "${TOK[rl-other]}" GET /v1/keys
check "another token is not limited" '[ "$code" = 200 ]'
for i in $(seq 10); do http "${TOK[rl-reader]}" GET /v1/keys; [ "$code" = 429 ] && break; done
check "a 429 names rate_limited and carries Retry-After" '[ "$code" = 429 ] && jt "d[\"error\"][\"code\"]==\"rate_limited\"" && [ -n "$(hdr Retry-After)" ]'
rl1=$(metric sealtrail_rate_limited_total)
check "sealtrail_rate_limited_total counts them ($rl0 -> $rl1)" '[ "$(( ${rl1%.*} - ${rl0%.*} ))" -ge "$n429" ]'

stop_server
check "server 2 drains and exits 0" '[ "$SRV_EXIT" = 0 ]'
"$ST" verify --data "$D" --key "$VKEY" > "$T/out" 2>&1
check "sealtrail verify accepts the log after both servers" 'grep -q "^OK" "$T/out"'
check "no token secret anywhere in the data directory or server output, at the end" 'secret_grep'

echo "# $(( $(date +%s) - T0 )) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
