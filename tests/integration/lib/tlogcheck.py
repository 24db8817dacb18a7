#!/usr/bin/env python3
"""tlogcheck.py - offline checks of what the HTTP API serves (stdlib only,
plus the openssl command for Ed25519). Used by tests/integration/server_api.sh.

  tlogcheck.py note VKEY NOTEFILE
      The signed note's text ends in a blank line, and one of its signature
      lines ("— NAME BASE64") carries VKEY's key id and a valid Ed25519
      signature of the text (checked with `openssl pkeyutl -verify -rawin`).
      VKEY is "name+hexid+base64(0x01||pubkey)"; its id is recomputed too.

  tlogcheck.py inclusion PROOFFILE LEAF_B64 [VKEY]
      PROOFFILE is a C2SP tlog-proof@v1. Recomputes the RFC 6962/9162 root
      from LEAF_B64, the index and the proof hashes and compares it with the
      root of the checkpoint embedded in the proof; with VKEY, also checks
      that checkpoint's signature. Prints "index SIZE".

  tlogcheck.py consistency OLDNOTE NEWNOTE PROOFJSON
      Verifies an RFC 9162 2.1.4 consistency proof ({"old","new","proof"})
      between the two checkpoint notes' roots.

  tlogcheck.py tiles TILEFILE BUNDLEFILE COUNT [CHECKPOINTFILE]
      The level-0 hash tile holds COUNT hashes; the entry bundle holds COUNT
      entries (2-byte big-endian length + bytes) whose leaf hashes are the
      tile's hashes, in order. With CHECKPOINTFILE whose size is COUNT, the
      Merkle tree hash of the tile's hashes is the checkpoint's root.

  tlogcheck.py entry RESPONSEFILE
      RESPONSEFILE is a GET /v1/events/{seq} body without ?proof: the stored
      entry's exact bytes are cut out and SHA-256(0x00||bytes) must equal the
      response's leaf_hash. Prints the leaf hash.

  tlogcheck.py stream URL TOKEN TENANT OUTFILE [LIMIT]
      Pages GET URL/v1/events?tenant=TENANT&limit=LIMIT by next_after_seq
      and writes {"pages":P,"events":[...]} to OUTFILE.

  tlogcheck.py slow PORT MODE SECONDS
      A slow client: MODE "body" sends a POST's request line and headers at
      once, then dribbles its body one byte every 0.5 s; MODE "line"
      dribbles from the very first byte of the request line. Prints the
      seconds until the server closed the connection, or "open" when it was
      still open after SECONDS.
"""
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def die(msg):
    print("tlogcheck: " + msg, file=sys.stderr)
    sys.exit(1)


def h_node(a, b):
    return hashlib.sha256(b"\x01" + a + b).digest()


def h_leaf(e):
    return hashlib.sha256(b"\x00" + e).digest()


def mth(leaves):
    """RFC 6962 Merkle tree hash of a list of leaf hashes."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return h_node(mth(leaves[:k]), mth(leaves[k:]))


def parse_note(text):
    """(signed text, [(name, sigbytes)]) of a signed note."""
    i = text.find("\n\n")
    if i < 0:
        die("note has no blank line before its signatures")
    body, sigs = text[: i + 1], []
    for line in text[i + 2:].split("\n"):
        if not line:
            continue
        if not line.startswith("\u2014 "):
            die("bad signature line %r" % line)
        name, _, b64 = line[2:].rpartition(" ")
        sigs.append((name, base64.b64decode(b64)))
    return body, sigs


def checkpoint_fields(text):
    body, _ = parse_note(text)
    lines = body.split("\n")
    return lines[0], int(lines[1]), base64.b64decode(lines[2])


def verify_note(vkey, text):
    name, kid, b64 = vkey.strip().split("+", 2)
    raw = base64.b64decode(b64)
    if len(raw) != 33 or raw[0] != 1:
        die("verifier key is not an Ed25519 key")
    pub = raw[1:]
    want_id = hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]
    if want_id.hex() != kid:
        die("verifier key id %s is not %s" % (kid, want_id.hex()))
    body, sigs = parse_note(text)
    mine = [s for n, s in sigs if n == name and s[:4] == want_id]
    if not mine:
        die("no signature line by %s+%s" % (name, kid))
    sig = mine[0][4:]
    if len(sig) != 64:
        die("signature is %d bytes, not 64" % len(sig))
    der = bytes.fromhex("302a300506032b6570032100") + pub
    pem = "-----BEGIN PUBLIC KEY-----\n" + base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n"
    with tempfile.TemporaryDirectory() as d:
        for fn, data in (("pub.pem", pem.encode()), ("msg", body.encode()), ("sig", sig)):
            with open(os.path.join(d, fn), "wb") as f:
                f.write(data)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                            os.path.join(d, "pub.pem"), "-rawin", "-in", os.path.join(d, "msg"),
                            "-sigfile", os.path.join(d, "sig")], capture_output=True)
        if r.returncode != 0:
            die("Ed25519 signature does not verify: " + (r.stdout + r.stderr).decode(errors="replace").strip())


def verify_inclusion(index, size, leaf, path, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h_node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = h_node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old, new, path):
    if m == n:
        return not path and old == new
    if m == 0 or m > n:
        return False
    if m & (m - 1) == 0:
        path = [old] + path
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h_node(c, fr)
            sr = h_node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = h_node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old and sr == new


def parse_tlog_proof(text):
    lines = text.split("\n")
    if lines[0] != "c2sp.org/tlog-proof@v1":
        die("not a tlog-proof@v1: %r" % lines[0])
    i = 1
    if lines[i].startswith("extra "):
        i += 1
    if not lines[i].startswith("index "):
        die("no index line: %r" % lines[i])
    index = int(lines[i][6:])
    i += 1
    hashes = []
    while lines[i] != "":
        hashes.append(base64.b64decode(lines[i]))
        i += 1
    return index, hashes, "\n".join(lines[i + 1:])


def cmd_note(a):
    verify_note(a[0], open(a[1], encoding="utf-8").read())
    print("ok")


def cmd_inclusion(a):
    text = open(a[0], encoding="utf-8").read()
    index, hashes, cp = parse_tlog_proof(text)
    _, size, root = checkpoint_fields(cp)
    if not verify_inclusion(index, size, base64.b64decode(a[1]), hashes, root):
        die("inclusion proof of index %d in size %d does not lead to the root" % (index, size))
    if len(a) > 2:
        verify_note(a[2], cp)
    print(index, size)


def cmd_consistency(a):
    o_origin, m, old = checkpoint_fields(open(a[0], encoding="utf-8").read())
    n_origin, n, new = checkpoint_fields(open(a[1], encoding="utf-8").read())
    p = json.load(open(a[2]))
    if o_origin != n_origin or p["old"] != m or p["new"] != n:
        die("proof is for %s..%s, notes are %d..%d" % (p["old"], p["new"], m, n))
    if not verify_consistency(m, n, old, new, [base64.b64decode(x) for x in p["proof"]]):
        die("consistency proof %d..%d does not verify" % (m, n))
    print("ok")


def cmd_tiles(a):
    tile, bundle, count = open(a[0], "rb").read(), open(a[1], "rb").read(), int(a[2])
    if len(tile) != 32 * count:
        die("tile is %d bytes, not %d" % (len(tile), 32 * count))
    hashes = [tile[i:i + 32] for i in range(0, len(tile), 32)]
    i, k = 0, 0
    while i < len(bundle):
        if i + 2 > len(bundle):
            die("bundle ends inside a length")
        n = int.from_bytes(bundle[i:i + 2], "big")
        e = bundle[i + 2:i + 2 + n]
        if len(e) != n:
            die("bundle entry %d is cut short" % k)
        if k >= count or h_leaf(e) != hashes[k]:
            die("bundle entry %d does not hash to tile hash %d" % (k, k))
        i += 2 + n
        k += 1
    if k != count:
        die("bundle holds %d entries, not %d" % (k, count))
    if len(a) > 3:
        _, size, root = checkpoint_fields(open(a[3], encoding="utf-8").read())
        if size != count or mth(hashes) != root:
            die("tile hashes do not give the checkpoint root (size %d)" % size)
    print("ok")


def cmd_entry(a):
    raw = open(a[0], "rb").read()
    d = json.loads(raw)
    k = raw.index(b'"entry":') + 8
    if not raw.endswith(b"}\n"):
        die("response does not end in }\\n")
    e = raw[k:-2]
    if json.loads(e) != d["entry"]:
        die("could not cut out the entry bytes")
    got = base64.b64encode(h_leaf(e)).decode()
    if got != d["leaf_hash"]:
        die("SHA-256(0x00||entry) is %s, response says %s" % (got, d["leaf_hash"]))
    print(got)


def opener():
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def cmd_stream(a):
    url, token, tenant, out = a[0], a[1], a[2], a[3]
    limit = int(a[4]) if len(a) > 4 else 1000
    op, events, after, pages = opener(), [], None, 0
    while True:
        q = "%s/v1/events?tenant=%s&sort=seq&fresh=1&limit=%d" % (url, tenant, limit)
        if after is not None:
            q += "&after_seq=%d" % after
        req = urllib.request.Request(q, headers={"Authorization": "Bearer " + token})
        with op.open(req, timeout=30) as r:
            d = json.load(r)
        pages += 1
        events += d["events"]
        if "next_after_seq" not in d:
            break
        after = d["next_after_seq"]
        if pages > 10000:
            die("too many pages")
    json.dump({"pages": pages, "events": events}, open(out, "w"))
    print(len(events))


def cmd_slow(a):
    port, mode, limit = int(a[0]), a[1], float(a[2])
    req = (b"POST /v1/events?wait=checkpoint HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n" + b" " * 4000)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    if mode == "body":
        k = req.index(b"\r\n\r\n") + 4
        s.sendall(req[:k])
        req = req[k:]
    t0 = time.monotonic()
    s.settimeout(0.5)
    i = 0
    while time.monotonic() - t0 < limit:
        try:
            s.send(req[i:i + 1])
            i += 1
            d = s.recv(4096)
            if d == b"" or d.startswith(b"HTTP/"):
                break      # closed (or answered, which also ends the hold)
        except socket.timeout:
            continue
        except OSError:
            break
    else:
        print("open")
        return
    print("%.2f" % (time.monotonic() - t0))


def main():
    cmds = {"note": cmd_note, "inclusion": cmd_inclusion, "consistency": cmd_consistency,
            "tiles": cmd_tiles, "entry": cmd_entry, "stream": cmd_stream, "slow": cmd_slow}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        die("usage: see the docstring")
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
