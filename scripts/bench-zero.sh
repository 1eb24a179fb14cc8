#!/usr/bin/env bash
# Benchmarks sharded data parallelism (--zero 0, 1 and 2 with AdamW at 2 and 4 ranks): bytes per
# parameter per rank against the ZeRO and Megatron formulas, peak RSS per rank, and step time against
# --zero 0; rewrites the "Sharded data parallelism" section of docs/BENCHMARKS.md. Takes about fifteen
# minutes; not part of the tests. Extra arguments go to benchmarks/bench_zero.py (e.g. --repeats 5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking --zero 0, 1 and 2; this takes about fifteen minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_zero.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
