#!/usr/bin/env bash
# The main job of `make run`: the server on loopback, with the data
# directory created on first use (the admin token is printed then, once).
# Stop it with Ctrl-C (SIGINT): it drains and signs a final checkpoint.
set -euo pipefail
bin=${1:-build/sealtrail}
data=${2:-./sealtrail-data}
listen=${3:-127.0.0.1:7465}
exec "$bin" serve --data "$data" --init --listen "$listen"
