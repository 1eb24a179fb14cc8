#!/usr/bin/env bash
# Benchmarks pipeline mode (2 stages, GPipe and 1F1B, several micro-batch counts): the measured
# bubble against (P-1)/(M+P-1) and the throughput against 1 rank and 2 data-parallel ranks; rewrites
# the "Pipeline" section of docs/BENCHMARKS.md. Takes a few minutes; not part of the tests. Extra
# arguments go to benchmarks/bench_pipeline.py (e.g. --repeats 5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking pipeline mode; this takes a few minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_pipeline.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
