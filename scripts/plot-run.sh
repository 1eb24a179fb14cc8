#!/usr/bin/env bash
# Draws a run's metrics.jsonl (loss, validation accuracy, learning rate, throughput) as a PNG.
# Usage: scripts/plot-run.sh [RUN_DIR] [PICTURE.png] [--title TEXT]   (defaults: runs/latest,
# RUN_DIR/run.png)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

python=$(ringtrain_python)
ensure_matplotlib "$python"
# Without a RUN_DIR first, the newest run.
if [ $# -eq 0 ] || [[ $1 == --* ]]; then set -- runs/latest "$@"; fi
"$python" "$RINGTRAIN_ROOT/scripts/lib/plot_run.py" "$@"
