#!/usr/bin/env bash
# The main job of `make run` until the server exists: initialise the data
# directory if absent, append a sample of realistic events, issue a
# checkpoint, print it, prove one entry, and verify the whole log.
set -euo pipefail
bin=${1:-build/sealtrail}
data=${2:-./sealtrail-data}
gen=$(dirname "$bin")/bench/gen_events

if [ ! -f "$data/meta" ]; then
  echo "== sealtrail init --data $data"
  "$bin" init --data "$data"
fi
echo "== verifier keys of this log"
"$bin" key list --data "$data"

sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
if [ -x "$gen" ]; then
  "$gen" 1000 "$(date +%s)" > "$sample"
else
  cat > "$sample" <<'NDJSON'
{"time":"2026-11-27T03:12:44.120Z","action":"iam.role.update","actor":{"id":"alice@example.com","type":"user","ip":"203.0.113.7"},"resource":{"type":"role","id":"admin"},"outcome":"success","before":{"members":["bob"]},"after":{"members":["bob","mallory"]}}
{"time":"2026-11-27T03:12:45.001Z","action":"k8s.secrets.get","actor":{"id":"system:serviceaccount:ci:deployer","type":"service"},"resource":{"type":"secret","id":"prod/db-password"},"outcome":"denied","tenant":"payments"}
{"time":"2026-11-27T03:12:46Z","action":"db.table.drop","actor":{"id":"mallory","type":"user"},"resource":{"type":"table","name":"invoices"},"outcome":"failure","reason":"permission denied for table invoices"}
NDJSON
fi
echo "== sealtrail append --data $data ($(wc -l < "$sample") events; acks go to $data/last-acks.ndjson)"
"$bin" append --data "$data" --batch 100 "$sample" > "$data/last-acks.ndjson"
echo "== sealtrail checkpoint --data $data"
"$bin" checkpoint --data "$data"
last=$(tail -n 1 "$data/last-acks.ndjson" | sed -E 's/.*"seq":([0-9]+).*/\1/')
echo "== sealtrail entry --data $data $last"
"$bin" entry --data "$data" "$last"; echo
echo "== sealtrail proof inclusion --data $data $last"
"$bin" proof inclusion --data "$data" "$last"
echo "== sealtrail verify --data $data"
"$bin" verify --data "$data"
