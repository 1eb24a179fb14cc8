#!/usr/bin/env bash
# Benchmarks the input pipeline on shard data sets read from disk, against the raw read bandwidth
# of the same files, and rewrites the "Data loading" section of docs/BENCHMARKS.md. Makes two data
# sets of 3 GiB each under /var/tmp/ringtrain-bench-data (kept for the next run) and takes a few
# minutes; not part of the tests. Extra arguments go to benchmarks/bench_data.py (e.g. --gib 8).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking the input pipeline; this takes a few minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_data.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
