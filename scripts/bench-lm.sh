#!/usr/bin/env bash
# Benchmarks the language-model objective: the same network trained with a loss at every position
# and at the last position only, scored on held-out text in bits per byte, and rewrites the
# language-model section of docs/BENCHMARKS.md (and docs/bench-lm.png). Keeps its data under
# /var/tmp/ringtrain-bench-lm; takes about ten minutes; not part of the tests. Extra arguments go
# to benchmarks/bench_lm.py (e.g. --steps 100,400 --width 128).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking the language-model objective; this takes about ten minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_lm.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
