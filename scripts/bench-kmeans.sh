#!/usr/bin/env bash
# Benchmarks ringtrain kmeans (onepass and lloyd) against scikit-learn's KMeans on a real data set
# and on Gaussian mixtures, one larger than this machine's memory, and rewrites the k-means section
# of docs/BENCHMARKS.md. Keeps its data sets under /var/tmp/ringtrain-bench-kmeans (about RAM + 2
# GiB of disk) for the next run; takes tens of minutes; not part of the tests. Extra arguments go to
# benchmarks/bench_kmeans.py (e.g. --skip-large, --ks 10,100, --mixture-rows 4000000).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
log "benchmarking k-means; this takes tens of minutes"
"$(ringtrain_python)" "$RINGTRAIN_ROOT/benchmarks/bench_kmeans.py" --ringtrain "$BUILD_DIR/ringtrain" "$@"
