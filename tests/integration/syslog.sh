#!/usr/bin/env bash
# syslog.sh - the syslog listener (docs/SYSLOG.md) end to end, with real
# senders: util-linux logger (RFC 5424, newline and octet-counted framing)
# and Debian's rsyslogd (imtcp in, omfwd out with an RFC 5424 template,
# octet-counted and traditional framing), plus raw streams and TLS.
#
# - every message sent arrives exactly once (counted through the API by
#   its unique text), as the listener's tenant and producer, with its
#   enrichment context and client_ip;
# - malformed and oversized frames in the middle of a stream (octet and
#   newline) are counted in /metrics, logged with the connection and the
#   stream byte, and the messages after them still arrive;
# - the audit@32473 structured data maps to actor, action, resource,
#   outcome and id; CEF maps too;
# - a TLS listener (a certificate made now, never committed) takes
#   octet-counted frames;
# - SIGTERM: what was sent before is committed; the server exits 0.
set -euo pipefail
ST=${SEALTRAIL:?}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=SCRIPTDIR/../lib/server.sh
. "$HERE/../lib/server.sh"
st_test_setup syslog

for tool in logger rsyslogd openssl python3; do
	command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
	command -v "$tool" >/dev/null || { echo "not ok - $tool is missing (scripts/install-deps.sh)"; exit 1; }
done

D=$T/data
SP=$(st_free_port)
TP=$(st_free_port)
while [ "$TP" = "$SP" ]; do TP=$(st_free_port); done
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/key.pem" -out "$T/cert.pem" -days 1 \
	-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1
cat >"$T/server.conf" <<EOF
checkpoint_interval = 100ms
syslog_listen = 127.0.0.1:$SP tenant=acme producer=rsyslog-test region=eu-west-1
syslog_listen = 127.0.0.1:$TP tenant=acme producer=syslog-tls tls
tls_cert = $T/cert.pem
tls_key = $T/key.pem
syslog_max_frame = 4K
syslog_map = app@1 user actor.id
EOF
st_start_server s --data "$D" --config "$T/server.conf" --init
ADMIN=$(grep -o 'st1_[A-Za-z0-9_-]*' "$T/s.out" | head -1)
AUD=$("$ST" token create --data "$D" --role auditor --tenant acme 2>/dev/null | head -1)
sleep 2.2
BASE=http://127.0.0.1:$PORT

# count QUERY PREFIX: how many times each message text starting with
# PREFIX was stored; prints "N distinct, M total"
count() {
	curl -s --max-time 20 -H "Authorization: Bearer $AUD" \
		"$BASE/v1/events?q=$1&fresh=1&limit=1000" >"$T/q.json"
	python3 - "$T/q.json" "$2" <<"EOF"
import json, sys, collections
evs = [e.get("entry", e) for e in json.load(open(sys.argv[1]))["events"]]
c = collections.Counter(e.get("metadata", {}).get("msg", "") for e in evs)
c = {k: v for k, v in c.items() if k.startswith(sys.argv[2])}
print(len(c), sum(c.values()))
EOF
}
# wait_count QUERY PREFIX N: until N distinct texts are stored (20 s at most)
wait_count() {
	local r=""
	for _ in $(seq 1 100); do
		r=$(count "$1" "$2")
		[ "${r%% *}" -ge "$3" ] && break
		sleep 0.2
	done
	echo "$r"
}
metric() {
	curl -s --max-time 10 -H "Authorization: Bearer $ADMIN" "$BASE/metrics" | awk -v m="$1" '$1 == m { print $2 }'
}

# ---- logger: newline framing, one connection per message, and 200 on one
for i in $(seq 1 20); do
	logger --rfc5424 --tcp --server 127.0.0.1 --port "$SP" -t lgnl "lgnl-$i"
done
r=$(wait_count action:syslog.lgnl lgnl- 20)
expect "logger --tcp (newline framing): 20 messages, each exactly once" '[ "$r" = "20 20" ]' "$r"
for i in $(seq 1 20); do
	logger --rfc5424 --tcp --octet-count --server 127.0.0.1 --port "$SP" -t lgoc "lgoc-$i"
done
r=$(wait_count action:syslog.lgoc lgoc- 20)
expect "logger --octet-count: 20 messages, each exactly once" '[ "$r" = "20 20" ]' "$r"
seq 1 300 | sed 's/^/lgst-/' | logger --rfc5424 --tcp --octet-count --server 127.0.0.1 --port "$SP" -t lgst
r=$(wait_count action:syslog.lgst lgst- 300)
expect "logger reading stdin: 300 messages on one connection, each exactly once" '[ "$r" = "300 300" ]' "$r"

curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/events?q=action:syslog.lgoc&fresh=1&limit=1" >"$T/one.json"
expect "an event: tenant, producer, time, actor host, resource app, metadata, client_ip, context" \
	'python3 - "$T/one.json" <<"EOF"
import json, sys
e = json.load(open(sys.argv[1]))["events"][0]["entry"]
assert e["tenant"] == "acme" and e["producer"] == "rsyslog-test", e
assert e["actor"]["type"] == "host" and e["resource"] == {"type": "syslog", "id": "lgoc"}, e
m = e["metadata"]
assert m["format"] == "rfc5424" and m["facility"] == "user" and m["severity"] == "notice" and m["app"] == "lgoc", m
assert e["client_ip"] == "127.0.0.1" and e["context"] == {"region": "eu-west-1"}, e
assert e["time"] == m["timestamp"], e
EOF'

# ---- structured data and CEF
logger --rfc5424 --tcp --octet-count --server 127.0.0.1 --port "$SP" -t webapp --msgid login \
	--sd-id audit@32473 --sd-param 'id="evt-77"' --sd-param 'actor="alice"' \
	--sd-param 'action="user.login"' --sd-param 'resource="acct-7"' --sd-param 'resource_type="account"' \
	--sd-param 'outcome="denied"' "sd-login"
printf '<13>Oct 11 22:14:15 fw CEF:0|Acme|FW|1.0|100|worm stopped|10|src=10.0.0.1 suser=bob dst=2.1.2.2 act=blocked externalId=cx-1\n' |
	python3 -c 'import socket,sys; s=socket.create_connection(("127.0.0.1",int(sys.argv[1]))); s.sendall(sys.stdin.buffer.read()); s.close()' "$SP"
for _ in $(seq 1 50); do
	curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events/by-id/evt-77?tenant=acme" >"$T/sd.json"
	curl -s --max-time 10 -H "Authorization: Bearer $AUD" "$BASE/v1/events/by-id/cef-acme-fw-cx-1?tenant=acme" >"$T/cef.json"
	grep -q '"entry"' "$T/sd.json" && grep -q '"entry"' "$T/cef.json" && break
	sleep 0.2
done
expect "audit@32473 structured data: id, actor, action, resource, outcome" \
	'python3 - "$T/sd.json" <<"EOF"
import json, sys
e = json.load(open(sys.argv[1]))["entry"]
assert e["id"] == "evt-77" and e["action"] == "user.login" and e["actor"]["id"] == "alice", e
assert e["resource"] == {"type": "account", "id": "acct-7"} and e["outcome"] == "denied", e
assert e["metadata"]["msgid"] == "login" and e["metadata"]["sd"]["audit@32473"]["actor"] == "alice", e
EOF' "$(cat "$T/sd.json")"
expect "CEF: action, actor, resource, outcome, reason, id from externalId" \
	'python3 - "$T/cef.json" <<"EOF"
import json, sys
e = json.load(open(sys.argv[1]))["entry"]
assert e["action"] == "cef.acme.fw.blocked" and e["actor"] == {"id": "bob", "type": "user", "ip": "10.0.0.1"}, e
assert e["resource"] == {"type": "host", "id": "2.1.2.2"} and e["outcome"] == "denied", e
assert e["reason"] == "worm stopped" and e["metadata"]["cef"]["ext"]["dst"] == "2.1.2.2", e
EOF' "$(cat "$T/cef.json")"

# ---- bad frames in the middle of a stream do not desynchronize it
python3 - "$SP" <<"EOF"
import socket, sys
def oc(s): b = s.encode(); return str(len(b)).encode() + b" " + b
good = lambda i: "<13>1 2026-11-28T10:00:00Z h bad - - - mid-%d" % i
parts = [oc(good(1)), b"9000 " + b"x" * 9000,                     # oversized octet frame, skipped by its count
         oc(good(2)), oc("<999>1 - - - - - - pri too big"),        # malformed
         (good(3) + "\n").encode(), b"y" * 5000 + b"\n",             # oversized line, skipped to its LF
         (good(4) + "\n").encode(), b"<13>1 2026-13-45T00:00:00Z h bad - - - bad time\n",
         oc(good(5)), b"<13>1 - h bad - - [x@1 a=\"1\"\n",           # unterminated SD
         oc(good(6)), b"3 abc"[:0] + oc(good(7))]
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"".join(parts))
s.close()
EOF
r=$(wait_count action:syslog.bad mid- 7)
expect "7 good messages around oversized and malformed frames all arrive once" '[ "$r" = "7 7" ]' "$r"
ov=$(metric 'sealtrail_syslog_frames_rejected_total{reason="oversized"}')
mf=$(metric 'sealtrail_syslog_frames_rejected_total{reason="malformed"}')
expect "the rejected frames are counted: 2 oversized, 3 malformed" '[ "$ov" = 2 ] && [ "$mf" = 3 ]' "oversized $ov malformed $mf"
expect "a rejected frame is logged with its connection and stream byte" \
	'grep -q "syslog: oversized frame: connection [0-9]* from 127.0.0.1 to 127.0.0.1:$SP, stream byte [0-9]*" "$T/s.err"' "$(grep syslog "$T/s.err" | head -5)"

# ---- TLS
python3 - "$TP" "$T/cert.pem" <<"EOF"
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
with socket.create_connection(("127.0.0.1", int(sys.argv[1]))) as raw:
    with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        for i in range(1, 51):
            b = ("<13>1 2026-11-28T10:00:00Z h tlsapp - - - tls-%d" % i).encode()
            s.sendall(str(len(b)).encode() + b" " + b)
        # 900 in one write: several TLS records GnuTLS may read at once
        bulk = b""
        for i in range(1, 901):
            b = ("<13>1 2026-11-28T10:00:00Z h tlsbulk - - - bulk-%d %s" % (i, "p" * 40)).encode()
            bulk += str(len(b)).encode() + b" " + b
        s.sendall(bulk)
        s.unwrap()
EOF
r=$(wait_count action:syslog.tlsapp tls- 50)
expect "TLS listener (RFC 5425): 50 octet-counted messages, each exactly once" '[ "$r" = "50 50" ]' "$r"
r=$(wait_count action:syslog.tlsbulk bulk- 900)
expect "TLS: 900 messages in one write (many records), each exactly once" '[ "$r" = "900 900" ]' "$r"
curl -s --max-time 20 -H "Authorization: Bearer $AUD" "$BASE/v1/events?q=action:syslog.tlsapp&fresh=1&limit=1" >"$T/tls.json"
expect "the TLS listener's producer" 'grep -q "\"producer\":\"syslog-tls\"" "$T/tls.json"'
python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"<13>1 - h a - - - not TLS\n" * 100)
s.shutdown(socket.SHUT_WR)
try:
    s.recv(100)
except OSError:
    pass
s.close()' "$TP" 2>/dev/null || true
for _ in $(seq 1 50); do
	hf=$(metric sealtrail_syslog_tls_handshake_failures_total)
	[ "${hf:-0}" -ge 1 ] && break
	sleep 0.1
done
expect "plain text to the TLS listener is a handshake failure, counted" '[ "${hf:-0}" -ge 1 ]' "$hf"

# ---- rsyslogd: imtcp in, omfwd to the listener, both framings
R=$T/rsyslog
mkdir -p "$R/work"
RP1=$(st_free_port)
RP2=$(st_free_port)
while [ "$RP2" = "$RP1" ]; do RP2=$(st_free_port); done
cat >"$R/rsyslog.conf" <<EOF
global(workDirectory="$R/work")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="$RP1" ruleset="octet")
input(type="imtcp" address="127.0.0.1" port="$RP2" ruleset="trad")
ruleset(name="octet") {
  action(type="omfwd" target="127.0.0.1" port="$SP" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="octet-counted")
}
ruleset(name="trad") {
  action(type="omfwd" target="127.0.0.1" port="$SP" protocol="tcp" template="RSYSLOG_SyslogProtocol23Format" TCP_Framing="traditional")
}
EOF
RSYSLOGD=$(command -v rsyslogd)
"$RSYSLOGD" -n -f "$R/rsyslog.conf" -i "$R/rsyslog.pid" >"$R/out" 2>&1 &
RPID=$!
PIDS+=("$RPID")
for _ in $(seq 1 100); do
	python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1",int(sys.argv[1])),timeout=1).close()' "$RP1" 2>/dev/null && break
	sleep 0.1
done
seq 1 500 | sed 's/^/rsoc-/' | logger --rfc5424 --tcp --octet-count --server 127.0.0.1 --port "$RP1" -t rsoc
seq 1 500 | sed 's/^/rstr-/' | logger --rfc5424 --tcp --server 127.0.0.1 --port "$RP2" -t rstr
r=$(wait_count action:syslog.rsoc rsoc- 500)
expect "rsyslog omfwd TCP_Framing=octet-counted: 500 messages, each exactly once" '[ "$r" = "500 500" ]' "$r $(cat "$R/out")"
r=$(wait_count action:syslog.rstr rstr- 500)
expect "rsyslog omfwd TCP_Framing=traditional: 500 messages, each exactly once" '[ "$r" = "500 500" ]' "$r $(cat "$R/out")"
st_stop "$RPID" 10

# ---- drain: messages sent just before SIGTERM are committed
python3 - "$SP" <<"EOF"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(1, 101):
    b = ("<13>1 2026-11-28T10:00:00Z h drainapp - - - drain-%d" % i).encode()
    s.sendall(str(len(b)).encode() + b" " + b)
s.close()
EOF
sleep 0.2
st_stop "$SPID" 30
expect "SIGTERM: the server drains and exits 0" '[ "$ST_EXIT" = 0 ]' "exit $ST_EXIT: $(tail -5 "$T/s.err")"
n=$("$ST" query --data "$D" --json --all 'action:syslog.drainapp' | grep -c '"msg":"drain-' || true)
expect "the 100 messages read before SIGTERM are in the log" '[ "$n" = 100 ]' "$n"

# ---- limits: connections and idle timeout (a second server)
LP=$(st_free_port)
printf 'syslog_listen = 127.0.0.1:%s tenant=acme producer=limits\nsyslog_max_connections = 2\nsyslog_idle_timeout = 1s\n' "$LP" >"$T/limits.conf"
st_start_server l --data "$T/data2" --config "$T/limits.conf" --init
ADMIN=$(grep -o 'st1_[A-Za-z0-9_-]*' "$T/l.out" | head -1)
BASE=http://127.0.0.1:$PORT
r=$(python3 - "$LP" <<"EOF"
import socket, sys, time
port = int(sys.argv[1])
a = socket.create_connection(("127.0.0.1", port))
b = socket.create_connection(("127.0.0.1", port))
time.sleep(0.3)
c = socket.create_connection(("127.0.0.1", port))
c.settimeout(5)
third = "closed" if c.recv(10) == b"" else "open"
a.settimeout(5)
t0 = time.time()
first = "closed" if a.recv(10) == b"" else "open"
print(third, first, "%.1f" % (time.time() - t0))
EOF
)
expect "over syslog_max_connections a connection is closed at accept; a silent one after syslog_idle_timeout" \
	'[[ $r == "closed closed "* ]]' "$r"
rf=$(metric sealtrail_syslog_connections_refused_total)
ic=$(metric sealtrail_syslog_connections_idle_closed_total)
expect "both are counted" '[ "$rf" = 1 ] && [ "${ic:-0}" -ge 1 ]' "refused $rf idle $ic"
st_stop "$SPID" 30

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
