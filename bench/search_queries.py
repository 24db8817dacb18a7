#!/usr/bin/env python3
"""The shared query set of the search benchmark (issue 4).

    python3 bench/search_queries.py DATA.ndjson OUT.tsv [--per-class N]
        [--count-queries C] [--seed S] [--sample K]

Reads the NDJSON written by build/bench/gen_events (streamed: 10M lines are
about 6 GB), keeps a uniform reservoir sample of K events (default 100000,
Vitter's algorithm L: one counter compare per line, JSON parsed only for the
sample), and writes one query per line:

    class<TAB>sealtrail_query<TAB>sql

Every parameter is taken from a sampled event, so every query has hits.
The classes, in this order:

  selective        N queries: one actor, an action prefix and one UTC day,
                   first 100 hits newest first.
                   Sealtrail: actor.id:A action:P.* time:YYYY-MM-DD
                   (A in double quotes, with \\ and " escaped, when it has a
                   character outside [A-Za-z0-9_.-], e.g. "svc:terraform";
                   P = the action without its last dotted segment, at most
                   two segments: iam.role.update -> iam.role,
                   iam.group.member.add -> iam.group, auth.login -> auth).
  word             N queries: one lower-case word, first 100 hits newest
                   first. Sealtrail: the bare word.
  count_by_action  C queries (default 5, the same one): count of events by
                   action over all events. Sealtrail column: "*" (the class
                   name says: stats by action over everything).
  timeline         N queries: every event of one request id, oldest first.
                   Sealtrail column: the request id.

The SQL is complete (literals inlined) and runs against the table that
bench/search_pg.sh builds: extracted columns time (timestamptz), action,
actor_id, request_id next to body jsonb, and the full-text expression
jsonb_to_tsvector('simple', body, '["string"]') that its GIN index is on.

Words. Sealtrail's tokens are runs of ASCII letters and digits and bytes
>= 0x80, lower-cased; PostgreSQL's default text parser splits differently
(host names like a.b.c, file paths, hyphenated words, e-mail addresses stay
whole). A word is a candidate only if, in the sample, it is a token of some
string value (keys do not count, and a word that is also a token of a key
is never taken) made of ASCII letters only, at least 3 long, found in
0.01% to 5% of the sampled events, and every one of its occurrences is
bounded by the start or end of the string, white space or one of ( ) , ; :
! ? " ' -- so both tokenizers see the same word at the same places and both
sides should find the same events.

Deterministic: the same file, seed and options give the same output.
Only the standard library is used.
"""
import argparse
import json
import math
import random
import re
import sys
from datetime import datetime, timezone

TOKEN = re.compile(rb"[A-Za-z0-9\x80-\xff]+")
WORD = re.compile(rb"[a-z]{3,}")
SAFE = set(b" \t\r\n(),;:!?\"'")
PLAIN = re.compile(r"[A-Za-z0-9_.-]+")
WORD_MIN, WORD_MAX = 0.0001, 0.05


def reservoir(path, k, rng):
    """A uniform sample of k lines of path (algorithm L), and the line count."""
    res = []
    n = 0
    w = 1.0
    nxt = 0
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            if n <= k:
                res.append(line)
                if n == k:
                    w = math.exp(math.log(1.0 - rng.random()) / k)
                    nxt = n + int(math.log(1.0 - rng.random()) / math.log(1.0 - w)) + 1
                continue
            if n == nxt:
                res[rng.randrange(k)] = line
                w *= math.exp(math.log(1.0 - rng.random()) / k)
                nxt = n + int(math.log(1.0 - rng.random()) / math.log(1.0 - w)) + 1
    return res, n


def utc_day(t):
    """The UTC date (YYYY-MM-DD) of an RFC 3339 time."""
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    return datetime.fromisoformat(t).astimezone(timezone.utc).strftime("%Y-%m-%d")


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def st_value(s):
    if PLAIN.fullmatch(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def action_prefix(action):
    segs = action.split(".")
    return ".".join(segs[:max(1, min(2, len(segs) - 1))])


def like_prefix(p):
    return p.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def strings_and_keys(v, strings, keys):
    if isinstance(v, str):
        strings.append(v)
    elif isinstance(v, dict):
        for k, x in v.items():
            keys.append(k)
            strings_and_keys(x, strings, keys)
    elif isinstance(v, list):
        for x in v:
            strings_and_keys(x, strings, keys)


def word_stats(events):
    """Per lower-case token: in how many events it is found; the set of
    tokens ever found badly bounded; the set of tokens of keys."""
    df = {}
    unsafe = set()
    key_tokens = set()
    for ev in events:
        strings, keys = [], []
        strings_and_keys(ev, strings, keys)
        for k in keys:
            for m in TOKEN.finditer(k.encode()):
                key_tokens.add(m.group().lower())
        seen = set()
        for s in strings:
            b = s.encode()
            for m in TOKEN.finditer(b):
                tok = m.group().lower()
                seen.add(tok)
                i, j = m.start(), m.end()
                if (i > 0 and b[i - 1] not in SAFE) or (j < len(b) and b[j] not in SAFE):
                    unsafe.add(tok)
        for tok in seen:
            df[tok] = df.get(tok, 0) + 1
    return df, unsafe, key_tokens


def take(rng, items, n):
    """n items of a sorted list, at random; cycled when there are fewer."""
    if not items:
        return []
    if len(items) >= n:
        return rng.sample(items, n)
    out = list(items)
    rng.shuffle(out)
    return [out[i % len(out)] for i in range(n)]


def main():
    ap = argparse.ArgumentParser(description="write the search benchmark's query set")
    ap.add_argument("data")
    ap.add_argument("out")
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--count-queries", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample", type=int, default=100000)
    a = ap.parse_args()
    if a.per_class < 1 or a.count_queries < 1 or a.sample < 100:
        ap.error("--per-class and --count-queries must be >= 1, --sample >= 100")

    rng = random.Random(a.seed)
    lines, total = reservoir(a.data, a.sample, rng)
    if not lines:
        sys.exit(f"search_queries: {a.data} has no lines")
    events = [json.loads(x) for x in lines]
    n = a.per_class
    rows = []

    # selective: distinct (actor, prefix, day) triples from sampled events
    triples = sorted({(e["actor"]["id"], action_prefix(e["action"]), utc_day(e["time"]))
                      for e in events})
    for actor, p, day in take(rng, triples, n):
        st = f"actor.id:{st_value(actor)} action:{p}.* time:{day}"
        sql = (f"SELECT body FROM events WHERE actor_id = {sql_str(actor)}"
               f" AND action LIKE {sql_str(like_prefix(p) + '.%')}"
               f" AND time >= {sql_str(day + 'T00:00:00Z')}"
               f" AND time < {sql_str(day + 'T00:00:00Z')}::timestamptz + interval '1 day'"
               f" ORDER BY time DESC LIMIT 100")
        rows.append(("selective", st, sql))

    # word
    df, unsafe, key_tokens = word_stats(events)
    lo, hi = WORD_MIN * len(events), WORD_MAX * len(events)
    cands = sorted(t for t, c in df.items()
                   if WORD.fullmatch(t) and t not in unsafe and t not in key_tokens
                   and lo <= c <= hi)
    words = take(rng, cands, n)
    for w in words:
        s = w.decode()
        sql = ("SELECT body FROM events WHERE jsonb_to_tsvector('simple', body, '[\"string\"]')"
               f" @@ to_tsquery('simple', {sql_str(s)}) ORDER BY time DESC LIMIT 100")
        rows.append(("word", s, sql))

    for _ in range(a.count_queries):
        rows.append(("count_by_action", "*", "SELECT action, count(*) FROM events GROUP BY action"))

    # timeline
    rids = sorted({e["request_id"] for e in events if isinstance(e.get("request_id"), str)})
    for r in take(rng, rids, n):
        rows.append(("timeline", r, f"SELECT body FROM events WHERE request_id = {sql_str(r)} ORDER BY time"))

    with open(a.out, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            for field in row:
                if any(c in field for c in "\t\r\n"):
                    sys.exit(f"search_queries: a field holds a tab or newline: {field!r}")
            f.write("\t".join(row) + "\n")

    counts = {}
    for c, _, _ in rows:
        counts[c] = counts.get(c, 0) + 1
    print(f"search_queries: {total} events read, {len(events)} sampled (seed {a.seed}); "
          f"{len(triples)} actor/prefix/day triples, {len(cands)} candidate words, "
          f"{len(rids)} request ids; wrote "
          + ", ".join(f"{c} {k}" for c, k in counts.items()) + f" to {a.out}", file=sys.stderr)
    for c, got in (("selective", len(triples)), ("word", len(cands)), ("timeline", len(rids))):
        if got < n:
            print(f"search_queries: warning: only {got} distinct {c} parameters for"
                  f" --per-class {n}: repeated", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
