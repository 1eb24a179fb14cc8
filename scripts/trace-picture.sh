#!/usr/bin/env bash
# Traces steps of a 2-rank data-parallel run on built-in data (`ringtrain train --trace`) and draws
# the trace as docs/trace.png, the picture in docs/robustness.md. About a minute; not part of the
# tests. Extra arguments go to `ringtrain train`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null
python=$(ringtrain_python)
ensure_matplotlib "$python"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
command=(mpirun --oversubscribe --bind-to none -np 2 "$BUILD_DIR/ringtrain" train
  --train synthetic:20000:64:10 --val none --hidden 512,512 --batch-size 128 --bucket-mb 0.25
  --epochs 1 --max-steps 8 --threads 1 --progress off --output-dir "$out/run"
  --trace trace.json --trace-steps 4:5 "$@")
log "running: ${command[*]}"
"${command[@]}"
"$python" "$RINGTRAIN_ROOT/benchmarks/trace_picture.py" "$out/run/trace.json" "$RINGTRAIN_ROOT/docs/trace.png" \
  --title "ringtrain train --trace: 2 ranks, an MLP of 2 x 512 hidden units, 0.25 MiB buckets, steps 4-5"
log "wrote docs/trace.png"
