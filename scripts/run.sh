#!/usr/bin/env bash
# The main job: installs and builds what is missing, then trains the default model on the built-in
# synthetic data set with one rank per GPU (or 2 ranks on CPU) and prints where the results are.
# Extra arguments go to `ringtrain train`, e.g. scripts/run.sh --epochs 10 --model cnn
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null

ringtrain="$BUILD_DIR/ringtrain"
gpus=$("$ringtrain" info --json | "$(ringtrain_python)" -c 'import json, sys; print(json.load(sys.stdin)["gpus"])')
if [ "$gpus" -gt 0 ] && "$ringtrain" info | grep -q nccl; then
  ranks=$gpus
else
  ranks=${RINGTRAIN_CPU_RANKS:-2}
fi
output_dir=${OUTPUT_DIR:-$RINGTRAIN_ROOT/runs/latest}
progress=off
[ -t 1 ] && progress=on

log "training on $ranks rank(s); output in $output_dir"
mpirun --oversubscribe --bind-to none -np "$ranks" \
  "$ringtrain" train --output-dir "$output_dir" --progress "$progress" "$@"
