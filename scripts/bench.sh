#!/usr/bin/env bash
# Benchmarks ringtrain against PyTorch DDP on the same work and sweeps allreduce bandwidth; rewrites
# docs/BENCHMARKS.md and docs/benchmarks.png. Takes several minutes; not part of the tests.
# Extra arguments go to benchmarks/bench.py (e.g. --repeats 5).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
python=$(ringtrain_python)
ensure_matplotlib "$python"
log "benchmarking; this takes several minutes"
"$python" "$RINGTRAIN_ROOT/benchmarks/bench.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
