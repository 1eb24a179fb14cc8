#!/usr/bin/env bash
# Draws a run's metrics.jsonl (loss, validation accuracy, learning rate, throughput) as a PNG.
# Usage: scripts/plot-run.sh [RUN_DIR] [PICTURE.png] [--title TEXT]   (defaults: runs/latest,
# RUN_DIR/run.png)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

python=$(ringtrain_python)
ensure_matplotlib "$python"
"$python" "$RINGTRAIN_ROOT/scripts/lib/plot_run.py" "${1:-runs/latest}" "${@:2}"
