#!/usr/bin/env bash
# Measures what the always-on flight recorder costs per training step: its cost per communication
# call (bench-comm on one rank, recorder on and off), the calls and phase marks per step of the
# overhead-bound MLP (from a --trace), and that MLP's step time; rewrites the "Flight recorder
# cost" section of docs/BENCHMARKS.md. Takes about two minutes; not part of the tests. Extra
# arguments go to benchmarks/bench_recorder.py (e.g. --pairs 31).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "measuring the flight recorder's cost; this takes about two minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_recorder.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
