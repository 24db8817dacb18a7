#!/usr/bin/env bash
# syslog_mtls.sh - client certificates on the syslog TLS listener
# (docs/SYSLOG.md "TLS (RFC 5425)", syslog_tls_client_ca), end to end.
#
# A throwaway CA, a server certificate and client certificates are made
# now with openssl (as syslog.sh does), in the test's temp dir, never
# printed. Python's ssl module is the sender.
#
# - a client certificate signed by the CA: its messages are committed,
#   each carrying the certificate's subject DN (RFC 4514, as openssl
#   prints it with -nameopt RFC2253) in source.client_cert; a DN longer
#   than 256 bytes is cut to 256;
# - a self-signed client certificate, one signed by the CA but expired,
#   one signed by the CA for server authentication only, and no client
#   certificate at all: the handshake is refused, counted in both
#   sealtrail_syslog_tls_handshake_failures_total and
#   sealtrail_syslog_tls_client_cert_rejected_total, logged with the
#   reason, and nothing they sent is committed;
# - plain TCP to the TLS port: a handshake failure (not a certificate
#   rejection), nothing committed;
# - a missing or empty CA file, or the key without a tls listener, stops
#   the server at start with an error naming the key and the file.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup syslog_mtls

for tool in openssl python3; do
	command -v "$tool" >/dev/null || { echo "not ok - $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

# ---- certificates (keys stay in $T, removed at exit)
P=$T/pki
mkdir -p "$P/newcerts"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" >/dev/null 2>&1; }
key "$P/ca.key"
openssl req -x509 -new -key "$P/ca.key" -out "$P/ca.pem" -days 2 -subj "/O=Sealtrail Test/CN=Test Syslog CA" \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign >/dev/null 2>&1
# the server's own certificate, as syslog.sh makes it
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$P/server.key" -out "$P/server.pem" -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
# sign NAME SUBJECT EKU [openssl ca dates...]: NAME.key, NAME.pem signed by the CA
cat >"$P/ca.cnf" <<EOF
[ca]
default_ca = tca
[tca]
database = $P/index.txt
new_certs_dir = $P/newcerts
serial = $P/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
organizationName = optional
organizationalUnitName = optional
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
[serveronly]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
EOF
: >"$P/index.txt"
echo 1000 >"$P/serial"
sign() {
	local name=$1 subj=$2 ext=$3
	shift 3
	key "$P/$name.key"
	openssl req -new -key "$P/$name.key" -out "$P/$name.csr" -subj "$subj" >/dev/null 2>&1
	openssl ca -batch -notext -config "$P/ca.cnf" -extensions "$ext" -cert "$P/ca.pem" -keyfile "$P/ca.key" \
		-in "$P/$name.csr" -out "$P/$name.pem" -preserveDN "$@" >/dev/null 2>&1
}
sign good "/O=Acme, Inc./OU=audit/CN=sender-01" client -days 1
# 431 bytes as RFC 4514, whose byte 256 would split an escaped comma
LONGSUBJ="/O=Acme"
for i in 1 2 3 4 5; do LONGSUBJ="$LONGSUBJ/OU=u$i $(printf 'a,%.0s' $(seq 1 25))"; done
sign long "$LONGSUBJ/CN=sender-long" client -days 1
sign expired "/CN=sender-expired" client -startdate 20200101000000Z -enddate 20200102000000Z
sign srvonly "/CN=sender-serverauth" serveronly -days 1
key "$P/self.key"
openssl req -x509 -new -key "$P/self.key" -out "$P/self.pem" -days 1 -subj "/O=Acme, Inc./CN=sender-01" \
	-addext extendedKeyUsage=clientAuth >/dev/null 2>&1
for c in good long expired srvonly self; do
	[ -s "$P/$c.pem" ] || { echo "not ok - could not make the $c certificate with openssl"; exit 1; }
done
GOOD_DN=$(openssl x509 -in "$P/good.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
LONG_DN=$(openssl x509 -in "$P/long.pem" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')

# ---- the server
D=$T/data
TP=$(st_free_port)
cat >"$T/server.conf" <<EOF
checkpoint_interval = 100ms
syslog_listen = 127.0.0.1:$TP tenant=acme producer=syslog-mtls tls
tls_cert = $P/server.pem
tls_key = $P/server.key
syslog_tls_client_ca = $P/ca.pem
EOF
st_start_server s --data "$D" --config "$T/server.conf" --init
ADMIN=$(grep -o 'st1_[A-Za-z0-9_-]*' "$T/s.out" | head -1)
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT

metric() {
	curl -s --max-time 10 -H "Authorization: Bearer $ADMIN" "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}
# wait_metric NAME N: until NAME >= N (10 s at most); prints the value
wait_metric() {
	local v=""
	for _ in $(seq 1 100); do
		v=$(metric "$1")
		[ "${v:-0}" -ge "$2" ] && break
		sleep 0.1
	done
	echo "${v:-0}"
}
# events APP: the stored events of action syslog.APP, as JSON lines
events() {
	curl -s --max-time 20 -H "Authorization: Bearer $AUD" \
		"$BASE/v1/events?q=action:syslog.$1&fresh=1&limit=1000" |
		python3 -c 'import json, sys
for e in json.load(sys.stdin)["events"]:
    print(json.dumps(e.get("entry", e)))'
}
# wait_events APP N: until N events of APP are stored (20 s at most); prints the count
wait_events() {
	local n=0
	for _ in $(seq 1 100); do
		n=$(events "$1" | wc -l)
		[ "$n" -ge "$2" ] && break
		sleep 0.2
	done
	echo "$n"
}
# send APP N [CERT]: N octet-counted messages over TLS, with CERT's
# certificate and key when given; prints "handshake ok" or "handshake
# failed: ...", then "sent" or "send failed: ...". Never prints key
# material; every wait is bounded.
# send_refused APP N [CERT]: the same, then waits (10 s at most) for the
# server's answer: "refused: ALERT" (a TLS 1.3 client finishes its
# handshake before the server has checked its certificate: it learns of
# the refusal from the alert at its next read) or "not refused: ...".
# A sender with no certificate may instead find the connection closed
# while it still writes ("send failed").
send() {
	_send "" "$@"
}
send_refused() {
	_send refused "$@"
}
_send() {
	python3 - "$TP" "$P/server.pem" "$2" "$3" "${4:+$P/$4.pem}" "${4:+$P/$4.key}" "$1" <<"EOF" 2>&1 || true
import socket, ssl, sys
port, ca, app, n, cert, key, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6], sys.argv[7]
ctx = ssl.create_default_context(cafile=ca)
if cert:
    ctx.load_cert_chain(cert, key)
raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
try:
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
except (OSError, ssl.SSLError) as e:
    print("handshake failed: %s" % type(e).__name__)
    raw.close()
    sys.exit(0)
print("handshake ok")
try:
    for i in range(1, n + 1):
        b = ("<13>1 2026-11-29T10:00:00Z h %s - - - %s-%d" % (app, app, i)).encode()
        s.sendall(str(len(b)).encode() + b" " + b)
    if mode == "refused":
        try:
            got = s.recv(100)
            print("not refused: %s" % ("closed" if got == b"" else "data"))
        except ssl.SSLError as e:
            print("refused: %s" % (e.reason or "?"))
        except OSError as e:
            print("not refused: %s" % type(e).__name__)
    else:
        s.unwrap()
        print("sent")
except (OSError, ssl.SSLError) as e:
    print("send failed: %s" % type(e).__name__)
finally:
    s.close()
EOF
}

# ---- a client certificate signed by the CA
out=$(send mtlsok 20 good)
n=$(wait_events mtlsok 20)
expect "a client certificate signed by syslog_tls_client_ca: 20 messages committed" '[ "$n" = 20 ]' "$n; client: $out"
events mtlsok >"$T/ok.jsonl"
expect "each carries the certificate's subject DN (RFC 4514) in source.client_cert" \
	'python3 - "$T/ok.jsonl" "$GOOD_DN" <<"EOF"
import json, sys
evs = [json.loads(l) for l in open(sys.argv[1])]
assert len(evs) == 20, len(evs)
for e in evs:
    assert e["source"] == {"host": "h", "service": "mtlsok", "client_cert": sys.argv[2]}, (e["source"], sys.argv[2])
    assert e["producer"] == "syslog-mtls" and e["client_ip"] == "127.0.0.1", e
EOF' "expected $GOOD_DN; $(head -1 "$T/ok.jsonl")"
expect "the DN is the one openssl prints (CN first, the comma in O escaped)" \
	'[ "$GOOD_DN" = "CN=sender-01,OU=audit,O=Acme\\, Inc." ]' "$GOOD_DN"
out=$(send mtlslong 1 long)
n=$(wait_events mtlslong 1)
events mtlslong >"$T/long.jsonl"
expect "a DN longer than 256 bytes is cut to at most 256, never inside an escape (${#LONG_DN} bytes here)" \
	'[ "$n" = 1 ] && python3 - "$T/long.jsonl" "$LONG_DN" <<"EOF"
import json, sys
e = json.loads(open(sys.argv[1]).readline())
dn, full = e["source"]["client_cert"], sys.argv[2]
assert len(full) > 256 and full[255] == "\\" and full[256] == ",", full[250:260]
assert dn == full[:255], (len(dn), dn)
EOF' "$n; client: $out; $(head -c 600 "$T/long.jsonl")"
hf0=$(metric sealtrail_syslog_tls_handshake_failures_total)
cr0=$(metric sealtrail_syslog_tls_client_cert_rejected_total)
expect "no handshake failed so far" '[ "$hf0" = 0 ] && [ "$cr0" = 0 ]' "failures $hf0 rejected $cr0"

# ---- refused client certificates, and none at all
k=0
for c in self expired srvonly none; do
	k=$((k + 1))
	cert=$c
	[ "$c" = none ] && cert=""
	out=$(send_refused "mtlsbad$c" 5 $cert)
	cr=$(wait_metric sealtrail_syslog_tls_client_cert_rejected_total $k)
	hf=$(metric sealtrail_syslog_tls_handshake_failures_total)
	expect "client certificate '$c': the handshake is refused (the sender gets an alert), counted as a failure and a rejection" \
		'[ "$cr" = $k ] && [ "$hf" = $k ] && [[ $out == *"handshake failed"* || $out == *"send failed"* || $out == *"refused: "*ALERT* ]]' \
		"rejected $cr failures $hf; client: $out"
done
expect "each refusal is logged with its reason" \
	'[ "$(grep -c "syslog: TLS handshake with 127.0.0.1 to 127.0.0.1:$TP failed: " "$T/s.err")" = 4 ] &&
	 grep -q "failed: no client certificate" "$T/s.err" &&
	 grep -q "failed: client certificate rejected: .*issuer is unknown\.$" "$T/s.err" &&
	 grep -q "failed: client certificate rejected: .*expired certificate\.$" "$T/s.err" &&
	 grep -q "failed: client certificate rejected: .*intended purpose\.$" "$T/s.err"' \
	"$(grep "TLS handshake" "$T/s.err")"
expect "no private key in the server's log" '! grep -q "PRIVATE KEY" "$T/s.err" "$T/s.out"'

# ---- plain TCP to the TLS port
python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"<13>1 2026-11-29T10:00:00Z h mtlsplain - - - plain-1\n" * 50)
s.shutdown(socket.SHUT_WR)
try:
    s.recv(100)
except OSError:
    pass
s.close()' "$TP" 2>/dev/null || true
hf=$(wait_metric sealtrail_syslog_tls_handshake_failures_total 5)
cr=$(metric sealtrail_syslog_tls_client_cert_rejected_total)
expect "plain TCP to the TLS port: a handshake failure, not a certificate rejection" \
	'[ "$hf" = 5 ] && [ "$cr" = 4 ]' "failures $hf rejected $cr"

# ---- nothing of the refused connections was committed: a good sender
# after them is the sync point (their handshakes had already failed)
out=$(send mtlsafter 1 good)
n=$(wait_events mtlsafter 1)
expect "a good sender after the refusals still gets through" '[ "$n" = 1 ]' "$n; client: $out"
bad=0
for app in mtlsbadself mtlsbadexpired mtlsbadsrvonly mtlsbadnone mtlsplain; do
	bad=$((bad + $(events "$app" | wc -l)))
done
expect "nothing sent by a refused or plain-TCP connection was committed" '[ "$bad" = 0 ]' "$bad"
st_stop "$SPID" 30
expect "SIGTERM: the server exits 0" '[ "$ST_EXIT" = 0 ]' "exit $ST_EXIT: $(tail -5 "$T/s.err")"
c=$("$ST" query --data "$D" --json --all 'producer:syslog-mtls' 2>/dev/null | grep -c '"action"' || true)
expect "the log holds exactly the 22 good messages" '[ "$c" = 22 ]' "$c"

# ---- start-up errors
# bad_start TAG EXPECTED CONFIG-LINES: the server must exit non-zero, saying EXPECTED
bad_start() {
	local tag=$1 want=$2 port pid
	printf '%b' "$3" >"$T/$tag.conf"
	port=$(st_free_port)
	"$ST" serve --data "$D" --config "$T/$tag.conf" --listen "127.0.0.1:$port" >"$T/$tag.out" 2>"$T/$tag.err" &
	pid=$!
	PIDS+=("$pid")
	st_wait_exit "$pid" 10
	expect "start-up error: $tag" '[ "$ST_EXIT" != 0 ] && [ "$ST_EXIT" != 124 ] && grep -qF -- "$want" "$T/$tag.err"' \
		"exit $ST_EXIT: $(cat "$T/$tag.err")"
}
LP=$(st_free_port)
BASECONF="syslog_listen = 127.0.0.1:$LP tenant=acme producer=p tls\ntls_cert = $P/server.pem\ntls_key = $P/server.key\n"
bad_start missing-ca "syslog_tls_client_ca $T/nope.pem: cannot read the file" \
	"${BASECONF}syslog_tls_client_ca = $T/nope.pem\n"
: >"$T/empty.pem"
bad_start empty-ca "syslog_tls_client_ca $T/empty.pem: expected PEM CA certificates, found none" \
	"${BASECONF}syslog_tls_client_ca = $T/empty.pem\n"
bad_start no-tls-listener "syslog_tls_client_ca $P/ca.pem: no syslog_listen has tls" \
	"syslog_listen = 127.0.0.1:$LP tenant=acme producer=p\nsyslog_tls_client_ca = $P/ca.pem\n"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
