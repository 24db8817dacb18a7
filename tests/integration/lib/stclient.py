#!/usr/bin/env python3
"""stclient.py - loopback HTTP helpers for the server tests (stdlib only).

  stclient.py ingest --port P --token-file F --tenant T --prefix ID --acks FILE
                     --reqs FILE [--seed N] [--seconds S] [--send-tenant-rate R]
      One producer client on one keep-alive connection (http.client): NDJSON
      batches of 1..50 events, single JSON events and small JSON arrays, about
      one request in five with ?wait=checkpoint. Every event has a unique id
      "<ID>-<n>" and its content is a function of (id, tenant) (event_for), so
      a checker can re-send it. Every acknowledged result is appended to ACKS
      ({"id","seq","leaf","dup","req"}) as soon as its response is parsed, one
      line per result, line-buffered (only the server is killed in these
      tests, so write() is durable enough). REQS gets one line before each
      request is sent ({"req":k,"ids":[...]}) and one after
      ({"req":k,"outcome":...}). Outcomes:
        http         a complete response: status, code, retry_after, close
        refused      the connection could not be opened (nothing was sent)
        send_failed  an error while the request was being written
        no_response  the request was written, and the connection ended with
                     no byte of a status line (EOF or reset)
        torn         a status line arrived but the response did not complete
                     (short body, bad status line, or a 200/207 whose body is
                     not the JSON the API promises, with one result per event)
        timeout      no response within --timeout seconds
      The client stops at --seconds, or after two transport failures in a row
      (the server is gone: killed, or drained and closed).

  stclient.py check --port P --token-file READER --tenant-token T=FILE ...
                    ACKS...
      After a restart: every acked (id, seq, leaf) is at its seq with its leaf
      hash and its id in its tenant's stream (GET /v1/events?tenant=, all
      pages), a random sample also through GET /v1/events/{seq}; no two acked
      ids share a seq; no id appears twice in a tenant's stream; and
      re-sending every acked event gives "duplicate":true with the same seq
      and leaf hash. Prints problems and a summary; exits 1 on any problem.

  stclient.py logcheck DUMP [--acks FILE]... [--reqs FILE]...
      Offline, on the output of `sealtrail dump --data DIR` (server stopped):
      every entry's leaf is SHA-256(0x00 || its bytes); every acked id is at
      its seq with its leaf hash; no (tenant, id) is stored twice; and no
      event of a request answered with an error status (503, 429, ...) is in
      the log ("refused whole before anything was written"). Prints problems
      and "entries=N acked=A refused_ids=R"; exits 1 on any problem.

  stclient.py drainprobe --port P --token-file F --tenant T --prefix ID
                         --server-pid PID --acks FILE --reqs FILE
                         [--finish-slow yes|no]
      The SIGTERM drain, step by step: a slow request S (headers and half
      its body sent) keeps a request in flight; an idle keep-alive
      connection I has had one 200. Then SIGTERM, and: the server is still
      running 0.3 s later (the drain waits for S); a new connection is
      refused; a request on I gets a complete 503 shutting_down with
      Connection: close and Retry-After; with --finish-slow yes, S's rest is
      sent and S gets the same.
      Prints "CHECK pass|fail WHAT" lines; writes the acked result to ACKS
      and the refused requests to REQS (the formats of ingest) for logcheck.

  stclient.py proxy --port-file F --upstream URL [--mode M] [--alt URL]
                    [--checkpoint-file F]
      A reverse proxy on a free loopback port (written to F) for verify --url.
      Modes: pass; flip-tile (one byte of the first level-0 hash tile served,
      tile/0/000 or its partial); flip-entry (one byte inside the second
      entry of the first entry bundle); alt (everything from --alt: a fork);
      alt-checkpoint (/checkpoint from --alt, tiles from upstream);
      file-checkpoint (/checkpoint is the content of --checkpoint-file).
      Every request is logged to stderr as "METHOD PATH -> STATUS [tampered]".
"""
import argparse
import base64
import hashlib
import http.client
import http.server
import json
import random
import socket
import socketserver
import sys
import threading
import time
import urllib.parse


def event_for(eid, tenant, critical=False):
    """The event with id eid, the same bytes every time it is made."""
    h = int(hashlib.sha256(eid.encode()).hexdigest()[:8], 16)
    e = {"time": "2026-01-01T00:00:%02dZ" % (h % 60),
         "action": ("iam.user.update" if critical else "doc.write"),
         "actor": {"id": "u%d" % (h % 97)},
         "resource": {"type": "doc", "id": eid},
         "id": eid,
         "metadata": {"pad": "x" * (h % 180)}}
    if h & 1:
        e["tenant"] = tenant   # else the token's single tenant is used
    return json.dumps(e, separators=(",", ":"))


def read_token(path):
    with open(path) as f:
        return f.read().strip()


class Outcome(Exception):
    def __init__(self, kind, detail=""):
        super().__init__(kind)
        self.kind, self.detail = kind, detail


def post(conn, path, body, ctype, token):
    """One request on conn. Returns (status, headers dict, body bytes) or
    raises Outcome with the transport classification."""
    hdrs = {"Authorization": "Bearer " + token, "Content-Type": ctype}
    try:
        conn.request("POST", path, body=body, headers=hdrs)
    except ConnectionRefusedError as e:
        raise Outcome("refused", str(e))
    except socket.timeout as e:
        raise Outcome("timeout", "send: " + str(e))
    except OSError as e:
        if conn.sock is None:   # the connect itself failed
            raise Outcome("refused", str(e))
        raise Outcome("send_failed", "%s: %s" % (type(e).__name__, e))
    try:
        resp = conn.getresponse()
    except http.client.RemoteDisconnected as e:
        raise Outcome("no_response", str(e))
    except ConnectionResetError as e:
        raise Outcome("no_response", "reset: " + str(e))
    except socket.timeout as e:
        raise Outcome("timeout", str(e))
    except (http.client.HTTPException, OSError) as e:
        raise Outcome("torn", "status line: %s: %s" % (type(e).__name__, e))
    try:
        data = resp.read()
    except socket.timeout as e:
        raise Outcome("torn", "body timeout: " + str(e))
    except (http.client.HTTPException, OSError) as e:
        raise Outcome("torn", "body: %s: %s" % (type(e).__name__, e))
    return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data


def cmd_ingest(a):
    rnd = random.Random(a.seed)
    token = read_token(a.token_file)
    acks = open(a.acks, "a", buffering=1)
    reqs = open(a.reqs, "a", buffering=1)
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=a.timeout)
    deadline = time.monotonic() + a.seconds
    n = k = 0
    failures = 0
    while time.monotonic() < deadline and failures < 2:
        r = rnd.random()
        if r < 0.25:
            shape, cnt = "single", 1
        elif r < 0.35:
            shape, cnt = "array", rnd.randint(1, 10)
        else:
            shape, cnt = "ndjson", rnd.randint(1, 50)
        wait = rnd.random() < 0.2
        ids = ["%s-%d" % (a.prefix, n + i) for i in range(cnt)]
        n += cnt
        evs = [event_for(i, a.tenant) for i in ids]
        if shape == "single":
            body, ctype = evs[0], "application/json"
        elif shape == "array":
            body, ctype = "[" + ",".join(evs) + "]", "application/json"
        else:
            body, ctype = "\n".join(evs) + "\n", "application/x-ndjson"
        path = "/v1/events" + ("?wait=checkpoint" if wait else "")
        reqs.write(json.dumps({"req": k, "ids": ids, "wait": wait, "shape": shape}) + "\n")
        out = {"req": k}
        try:
            status, hdrs, data = post(conn, path, body.encode(), ctype, token)
            failures = 0
            out.update(outcome="http", status=status, retry_after=hdrs.get("retry-after"),
                       close=hdrs.get("connection", "").lower() == "close")
            doc = None
            try:
                doc = json.loads(data)
            except ValueError:
                pass
            if status in (200, 207):
                bad = check_results(doc, ids, wait)
                if bad:
                    out.update(outcome="torn", detail=bad, body=data[:300].decode("utf-8", "replace"))
                else:
                    for i, res in zip(ids, doc["results"]):
                        if "seq" in res:
                            acks.write(json.dumps({"id": i, "seq": res["seq"], "leaf": res["leaf_hash"],
                                                   "dup": bool(res.get("duplicate")), "req": k}) + "\n")
            elif isinstance(doc, dict) and isinstance(doc.get("error"), dict):
                out["code"] = doc["error"].get("code")
            else:
                out.update(outcome="torn", detail="status %d with a body that is not a JSON error" % status,
                           body=data[:300].decode("utf-8", "replace"))
        except Outcome as o:
            failures += 1
            out.update(outcome=o.kind, detail=o.detail)
            conn.close()
        reqs.write(json.dumps(out) + "\n")
        k += 1
    conn.close()
    return 0


def check_results(doc, ids, wait):
    """'' when doc is a complete ingest response for ids, else what is wrong."""
    if not isinstance(doc, dict) or not isinstance(doc.get("results"), list):
        return "no results array"
    res = doc["results"]
    if len(res) != len(ids):
        return "%d results for %d events" % (len(res), len(ids))
    for i, (eid, r) in enumerate(zip(ids, res)):
        if r.get("index") != i:
            return "result %d has index %r" % (i, r.get("index"))
        if "seq" in r:
            if r.get("id") != eid or not isinstance(r.get("seq"), int) or not r.get("leaf_hash"):
                return "result %d: id/seq/leaf_hash wrong: %r" % (i, r)
            if wait and "proof" not in r:
                return "result %d: ?wait=checkpoint but no proof" % i
        elif "error" not in r:
            return "result %d has neither seq nor error" % i
    if wait and any("seq" in r for r in res):
        top = max(r["seq"] for r in res if "seq" in r)
        if not isinstance(doc.get("checkpoint_size"), int) or doc["checkpoint_size"] <= top:
            return "checkpoint_size %r does not cover seq %d" % (doc.get("checkpoint_size"), top)
    return ""


def get_json(conn, path, token):
    conn.request("GET", path, headers={"Authorization": "Bearer " + token})
    resp = conn.getresponse()
    data = resp.read()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, None


def load_acks(paths):
    acks = []
    for p in paths:
        with open(p, "rb") as f:
            raw = f.read()
        for line in raw.split(b"\n"):
            if not line:
                continue
            try:
                acks.append(json.loads(line))
            except ValueError:
                pass   # a last line cut off by the kill of the client
    return acks


def cmd_check(a):
    rnd = random.Random(a.seed)
    reader = read_token(a.token_file)
    tenants = {}
    for spec in a.tenant_token:
        t, f = spec.split("=", 1)
        tenants[t] = read_token(f)
    problems = []
    acks = load_acks(a.acks)
    # the tenant of an ack: from the id prefix "<tenant>.<...>"
    by_id, by_seq = {}, {}
    for x in acks:
        t = x["id"].split(".", 1)[0]
        if x["id"] in by_id and (by_id[x["id"]]["seq"], by_id[x["id"]]["leaf"]) != (x["seq"], x["leaf"]):
            problems.append("id %s acked twice with different seq/leaf: %r %r" % (x["id"], by_id[x["id"]], x))
        by_id[x["id"]] = dict(x, tenant=t)
        if x["seq"] in by_seq and by_seq[x["seq"]] != x["id"]:
            problems.append("seq %d acked for two ids: %s and %s" % (x["seq"], by_seq[x["seq"]], x["id"]))
        by_seq[x["seq"]] = x["id"]
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)

    # 1. every tenant's stream, all pages: acked ids at their seq and leaf,
    #    and no (tenant, id) twice.
    seen = {}
    for t in tenants:
        after = None
        for _ in range(10000):
            q = "/v1/events?tenant=%s&sort=seq&fresh=1&limit=1000%s" % (t, "" if after is None else "&after_seq=%d" % after)
            st, doc = get_json(conn, q, reader)
            if st != 200 or not isinstance(doc, dict):
                problems.append("GET %s: status %d" % (q, st))
                break
            for ev in doc.get("events", []):
                eid = ev["entry"].get("id")
                key = (t, eid)
                if key in seen:
                    problems.append("tenant %s: id %s stored twice, at seq %d and %d" % (t, eid, seen[key][0], ev["seq"]))
                seen[key] = (ev["seq"], ev["leaf_hash"])
            if "next_after_seq" not in doc:
                break
            after = doc["next_after_seq"]
    for eid, x in by_id.items():
        got = seen.get((x["tenant"], eid))
        if got is None:
            problems.append("acked id %s (seq %d) is not in tenant %s's stream" % (eid, x["seq"], x["tenant"]))
        elif got != (x["seq"], x["leaf"]):
            problems.append("acked id %s: acked seq %d leaf %s, stored seq %d leaf %s" % (eid, x["seq"], x["leaf"], got[0], got[1]))

    # 2. a sample by seq
    sample = rnd.sample(sorted(by_id), min(a.sample, len(by_id)))
    for eid in sample:
        x = by_id[eid]
        st, doc = get_json(conn, "/v1/events/%d" % x["seq"], reader)
        if st != 200 or not isinstance(doc, dict):
            problems.append("GET /v1/events/%d: status %d" % (x["seq"], st))
            continue
        e = doc.get("entry", {})
        if doc.get("leaf_hash") != x["leaf"] or e.get("id") != eid or e.get("seq") != x["seq"] \
                or e.get("tenant") != x["tenant"] or e.get("resource", {}).get("id") != eid:
            problems.append("GET /v1/events/%d: leaf %s id %s tenant %s, acked leaf %s id %s tenant %s" % (
                x["seq"], doc.get("leaf_hash"), e.get("id"), e.get("tenant"), x["leaf"], eid, x["tenant"]))

    # 3. re-send every acked event: a duplicate of its seq and leaf
    dups = 0
    for t, tok in tenants.items():
        ids = sorted((i for i in by_id if by_id[i]["tenant"] == t), key=lambda i: by_id[i]["seq"])
        for j in range(0, len(ids), 500):
            chunk = ids[j:j + 500]
            body = ("\n".join(event_for(i, t) for i in chunk) + "\n").encode()
            try:
                st, _, data = post(conn, "/v1/events", body, "application/x-ndjson", tok)
            except Outcome as o:
                problems.append("re-send: %s %s" % (o.kind, o.detail))
                conn.close()
                continue
            doc = json.loads(data) if data else None
            if st != 200 or check_results(doc, chunk, False):
                problems.append("re-send of %d events: status %d: %s" % (len(chunk), st, data[:200]))
                continue
            for i, r in zip(chunk, doc["results"]):
                x = by_id[i]
                if r.get("duplicate") is not True or r.get("seq") != x["seq"] or r.get("leaf_hash") != x["leaf"]:
                    problems.append("re-sent %s: got %r, acked seq %d leaf %s" % (i, r, x["seq"], x["leaf"]))
                else:
                    dups += 1
    conn.close()
    for p in problems[:20]:
        print("  problem: " + p)
    if len(problems) > 20:
        print("  ... and %d more problems" % (len(problems) - 20))
    print("acked=%d in_streams=%d sampled=%d duplicates=%d problems=%d" % (
        len(by_id), sum(1 for i, x in by_id.items() if (x["tenant"], i) in seen), len(sample), dups, len(problems)))
    return 1 if problems else 0


def parse_dump(path):
    """[(seq, tenant, leaf, bytes)] from `sealtrail dump` output."""
    out = []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    i = 1
    while i + 1 < len(lines):
        h = lines[i].split()
        if not h or h[0] != b"seq":
            i += 1
            continue
        leaf = h[h.index(b"leaf") + 1].decode()
        out.append((int(h[1]), h[3].decode(), leaf, lines[i + 1]))
        i += 2
    return out, lines[0].decode()


def cmd_logcheck(a):
    problems = []
    entries, header = parse_dump(a.dump)
    by_key, by_seq = {}, {}
    for seq, tenant, leaf, raw in entries:
        calc = base64.b64encode(hashlib.sha256(b"\x00" + raw).digest()).decode()
        if calc != leaf:
            problems.append("seq %d: leaf %s, but SHA-256(0x00||entry) is %s" % (seq, leaf, calc))
        eid = json.loads(raw).get("id")
        if (tenant, eid) in by_key:
            problems.append("tenant %s: id %s stored twice, at seq %d and %d" % (tenant, eid, by_key[(tenant, eid)], seq))
        by_key[(tenant, eid)] = seq
        by_seq[seq] = (tenant, eid, leaf)
    if not header.endswith(" %d entries" % len(entries)):
        problems.append("dump header %r, but %d entries listed" % (header, len(entries)))
    acks = load_acks(a.acks)
    for x in acks:
        got = by_seq.get(x["seq"])
        if got is None or got[1] != x["id"] or got[2] != x["leaf"]:
            problems.append("acked id %s seq %d leaf %s: the log has %r" % (x["id"], x["seq"], x["leaf"], got))
    ids_of, refused = {}, 0
    for p in a.reqs:
        for line in open(p):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if "ids" in r:
                ids_of[r["req"]] = r["ids"]
            elif (r.get("outcome") == "http" and r.get("status", 0) >= 300) or r.get("must_be_absent"):
                for eid in ids_of.get(r["req"], []):
                    refused += 1
                    key = (eid.split(".", 1)[0], eid)
                    if key in by_key:
                        problems.append("id %s was refused (%s %s) but is in the log at seq %d" % (
                            eid, r.get("status"), r.get("code") or r.get("detail", ""), by_key[key]))
    for p in problems[:20]:
        print("  problem: " + p)
    if len(problems) > 20:
        print("  ... and %d more problems" % (len(problems) - 20))
    print("entries=%d acked=%d refused_ids=%d problems=%d" % (len(entries), len(acks), refused, len(problems)))
    return 1 if problems else 0


def raw_request(port, token, body, ctype="application/x-ndjson", path="/v1/events"):
    head = ("POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: %s\r\nContent-Length: %d\r\n\r\n" % (path, port, token, ctype, len(body)))
    return head.encode() + body


def read_response(sock):
    """(status, headers, body) of one complete response on sock, or raises
    Outcome (no_response / torn)."""
    sock.settimeout(20)
    r = http.client.HTTPResponse(sock)
    try:
        r.begin()
    except http.client.RemoteDisconnected as e:
        raise Outcome("no_response", str(e))
    except ConnectionResetError as e:
        raise Outcome("no_response", "reset: " + str(e))
    except (http.client.HTTPException, OSError) as e:
        raise Outcome("torn", "status line: %s: %s" % (type(e).__name__, e))
    try:
        data = r.read()
    except (http.client.HTTPException, OSError) as e:
        raise Outcome("torn", "body: %s: %s" % (type(e).__name__, e))
    return r.status, {k.lower(): v for k, v in r.getheaders()}, data


def cmd_drainprobe(a):
    import os
    import signal
    token = read_token(a.token_file)
    acks = open(a.acks, "a", buffering=1)
    reqs = open(a.reqs, "a", buffering=1)

    def refused(k, eid, detail):
        reqs.write(json.dumps({"req": k, "ids": [eid]}) + "\n")
        reqs.write(json.dumps({"req": k, "must_be_absent": True, "detail": detail}) + "\n")

    def check(ok, what):
        print("CHECK %s %s" % ("pass" if ok else "fail", what))
        sys.stdout.flush()

    def is_503_shutting_down(st, hdrs, data):
        try:
            code = json.loads(data)["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        what = "status %d code %s Retry-After %s Connection %s" % (
            st, code, hdrs.get("retry-after"), hdrs.get("connection"))
        return what, (st == 503 and code == "shutting_down" and hdrs.get("connection", "").lower() == "close"), \
            hdrs.get("retry-after", "").isdigit()

    ids = {k: "%s-%s" % (a.prefix, k) for k in ("idle1", "idle2", "slow")}
    # S: headers and half the body
    sbody = (event_for(ids["slow"], a.tenant) + "\n").encode()
    slow = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    req = raw_request(a.port, token, sbody)
    cut = len(req) - len(sbody) // 2
    slow.sendall(req[:cut])
    # I: one request, then idle
    idle = socket.create_connection(("127.0.0.1", a.port), timeout=20)
    idle.sendall(raw_request(a.port, token, (event_for(ids["idle1"], a.tenant) + "\n").encode()))
    try:
        st, hdrs, data = read_response(idle)
        doc = json.loads(data)
        ok = st == 200 and doc["results"][0].get("id") == ids["idle1"]
        check(ok, "before SIGTERM, a request on the keep-alive connection is 200 (status %d)" % st)
        if ok:
            r0 = doc["results"][0]
            acks.write(json.dumps({"id": r0["id"], "seq": r0["seq"], "leaf": r0["leaf_hash"],
                                   "dup": False, "req": 0}) + "\n")
    except (Outcome, ValueError, KeyError) as e:
        check(False, "before SIGTERM, a request on the keep-alive connection is 200 (%r)" % e)
    time.sleep(0.2)

    os.kill(a.server_pid, signal.SIGTERM)
    time.sleep(0.4)
    try:
        os.kill(a.server_pid, 0)
        with open("/proc/%d/stat" % a.server_pid) as f:
            alive = f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        alive = False
    check(alive, "0.4 s after SIGTERM the server still runs: it waits for the request in flight")
    try:
        c = socket.create_connection(("127.0.0.1", a.port), timeout=5)
        c.close()
        check(False, "a new connection during the drain is refused (it was accepted)")
    except ConnectionRefusedError:
        check(True, "a new connection during the drain is refused")
    except OSError as e:
        check(False, "a new connection during the drain is refused (%s)" % e)

    try:
        idle.sendall(raw_request(a.port, token, (event_for(ids["idle2"], a.tenant) + "\n").encode()))
        what, ok, ra = is_503_shutting_down(*read_response(idle))
        check(ok, "a request on an idle keep-alive connection during the drain: a complete 503 "
              "shutting_down with Connection: close (%s)" % what)
        check(ra, "that 503 carries Retry-After (API.md: 503 draining ... Retry-After) (%s)" % what)
    except (Outcome, OSError) as e:
        check(False, "a request on an idle keep-alive connection during the drain gets a complete response (%s)" % e)
    refused(1, ids["idle2"], "sent on an idle connection during the drain")

    if a.finish_slow == "yes":
        try:
            slow.sendall(req[cut:])
            what, ok, ra = is_503_shutting_down(*read_response(slow))
            check(ok, "the request in flight, its body completed during the drain: a complete 503 "
                  "shutting_down with Connection: close (%s)" % what)
            check(ra, "that 503 carries Retry-After too (%s)" % what)
        except (Outcome, OSError) as e:
            check(False, "the request in flight, its body completed during the drain, gets a complete response (%s)" % e)
        refused(2, ids["slow"], "body completed during the drain")
    else:
        # the body never completes: the server must cut it (read_timeout)
        # and exit; the request gets no response (its body was never sent).
        try:
            st, hdrs, data = read_response(slow)
            check(st in (408, 503), "the stalled request is answered %d or cut" % st)
        except Outcome as o:
            check(o.kind == "no_response", "the stalled request is cut without a partial response (%s)" % o.kind)
        refused(2, ids["slow"], "body never completed")
    idle.close()
    slow.close()
    return 0


# ---- the tampering proxy ------------------------------------------------------

def flip(data, off):
    if not data:
        return data
    b = bytearray(data)
    b[min(off, len(b) - 1)] ^= 0x01
    return bytes(b)


def second_entry_offset(bundle):
    """A byte inside the second entry of a bundle (2-byte length prefixes)."""
    if len(bundle) < 2:
        return 0
    n0 = int.from_bytes(bundle[0:2], "big")
    start = 2 + n0 + 2
    return start + 10 if len(bundle) > start + 10 else len(bundle) - 1


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        srv = self.server
        path = urllib.parse.urlsplit(self.path).path
        base = srv.upstream
        if srv.mode == "alt" or (srv.mode == "alt-checkpoint" and path == "/checkpoint"):
            base = srv.alt
        tampered = ""
        if srv.mode == "file-checkpoint" and path == "/checkpoint":
            with open(srv.checkpoint_file, "rb") as f:
                status, ctype, data = 200, "text/plain; charset=utf-8", f.read()
            tampered = " [served " + srv.checkpoint_file + "]"
        else:
            u = urllib.parse.urlsplit(base)
            c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
            hdrs = {}
            if self.headers.get("Authorization"):
                hdrs["Authorization"] = self.headers["Authorization"]
            c.request("GET", self.path, headers=hdrs)
            r = c.getresponse()
            status, ctype, data = r.status, r.getheader("Content-Type", "application/octet-stream"), r.read()
            c.close()
            if base is srv.alt and srv.alt != srv.upstream:
                tampered = " [from alt]"
            if status == 200 and srv.mode == "flip-tile" and (path == "/tile/0/000" or path.startswith("/tile/0/000.p/")):
                data, tampered = flip(data, 32 * 3 + 5), " [flipped hash 3 byte 5]"
            if status == 200 and srv.mode == "flip-entry" and (path == "/tile/entries/000" or path.startswith("/tile/entries/000.p/")):
                off = second_entry_offset(data)
                data, tampered = flip(data, off), " [flipped byte %d]" % off
        sys.stderr.write("GET %s -> %d%s\n" % (self.path, status, tampered))
        sys.stderr.flush()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ThreadingServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def cmd_proxy(a):
    srv = ThreadingServer(("127.0.0.1", 0), Proxy)
    srv.upstream, srv.alt, srv.mode = a.upstream, a.alt or a.upstream, a.mode
    srv.checkpoint_file = a.checkpoint_file
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    import os
    os.rename(a.port_file + ".tmp", a.port_file)
    srv.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("ingest")
    i.add_argument("--port", type=int, required=True)
    i.add_argument("--token-file", required=True)
    i.add_argument("--tenant", required=True)
    i.add_argument("--prefix", required=True)
    i.add_argument("--acks", required=True)
    i.add_argument("--reqs", required=True)
    i.add_argument("--seed", type=int, default=1)
    i.add_argument("--seconds", type=float, default=10)
    i.add_argument("--timeout", type=float, default=20)
    c = sub.add_parser("check")
    c.add_argument("--port", type=int, required=True)
    c.add_argument("--token-file", required=True)
    c.add_argument("--tenant-token", action="append", default=[])
    c.add_argument("--sample", type=int, default=200)
    c.add_argument("--seed", type=int, default=1)
    c.add_argument("acks", nargs="*")
    l = sub.add_parser("logcheck")
    l.add_argument("dump")
    l.add_argument("--acks", action="append", default=[])
    l.add_argument("--reqs", action="append", default=[])
    d = sub.add_parser("drainprobe")
    d.add_argument("--port", type=int, required=True)
    d.add_argument("--token-file", required=True)
    d.add_argument("--tenant", required=True)
    d.add_argument("--prefix", required=True)
    d.add_argument("--server-pid", type=int, required=True)
    d.add_argument("--finish-slow", choices=["yes", "no"], default="yes")
    d.add_argument("--acks", required=True)
    d.add_argument("--reqs", required=True)
    x = sub.add_parser("proxy")
    x.add_argument("--port-file", required=True)
    x.add_argument("--upstream", required=True)
    x.add_argument("--alt")
    x.add_argument("--checkpoint-file")
    x.add_argument("--mode", default="pass",
                   choices=["pass", "flip-tile", "flip-entry", "alt", "alt-checkpoint", "file-checkpoint"])
    a = p.parse_args()
    return {"ingest": cmd_ingest, "check": cmd_check, "logcheck": cmd_logcheck,
            "drainprobe": cmd_drainprobe, "proxy": cmd_proxy}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
