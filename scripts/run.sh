#!/usr/bin/env bash
# The main job: installs and builds what is missing, then trains the default model on the built-in
# synthetic data set with one rank per GPU (or 2 ranks on CPU) and prints where the results are.
# Extra arguments go to `ringtrain train`, e.g. scripts/run.sh --epochs 10 --model cnn
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET=ringtrain "$RINGTRAIN_ROOT/scripts/build.sh" >/dev/null

ringtrain="$BUILD_DIR/ringtrain"
gpus=$("$ringtrain" info --json | "$(ringtrain_python)" -c 'import json, sys; print(json.load(sys.stdin)["gpus"])')
if [ "$gpus" -gt 0 ] && "$ringtrain" info | grep -q nccl; then
  ranks=$gpus
else
  ranks=${RINGTRAIN_CPU_RANKS:-2}
fi
progress=off
[ -t 1 ] && progress=on

# Each run gets its own runs/DATE-TIME directory, linked as runs/latest; OUTPUT_DIR names one.
output=()
[ -n "${OUTPUT_DIR:-}" ] && output=(--output-dir "$OUTPUT_DIR")
log "training on $ranks rank(s); output in ${OUTPUT_DIR:-$PWD/runs/latest}"
mpirun --oversubscribe --bind-to none -np "$ranks" \
  "$ringtrain" train "${output[@]}" --progress "$progress" "$@"
