#!/usr/bin/env bash
# The segment writer has two modes: O_DIRECT (the default where the file
# system allows it) and buffered (SEALTRAIL_DIRECT_IO=0, or a file system
# that refuses O_DIRECT). The rest of the suite runs the default; this runs
# the command-line contract and a shorter crash test in buffered mode.
set -euo pipefail
SRC=${SEALTRAIL_SRC:?}
export SEALTRAIL_DIRECT_IO=0
bash "$SRC/tests/integration/cli.sh"
CRASH_ROUNDS=${CRASH_ROUNDS:-10} bash "$SRC/tests/crash/crash.sh"
