#!/usr/bin/env bash
# Benchmarks liveness with default settings: four ranks, one SIGSTOP'd at a random point 20 times,
# one SIGKILL'd and both ranks of one emulated host SIGSTOP'd 10 times each (is the lost rank named,
# and is every rank gone within the heartbeat timeout plus 5 s?), then a 10-minute run of 6 ranks
# beside CPU hogs that must raise no alarm, and 10 pairs of runs with the flight recorder on and off;
# rewrites the "Liveness" section of docs/BENCHMARKS.md.
# Takes about twenty minutes; not part of the tests. Extra arguments go to
# benchmarks/bench_liveness.py (e.g. --repeats 5 --soak-minutes 1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking liveness; this takes about twenty minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_liveness.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
