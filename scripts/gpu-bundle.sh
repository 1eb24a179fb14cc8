#!/usr/bin/env bash
# Builds ringtrain with CUDA required, with the GPU and MPI test binaries, and packs into one
# archive what a bare GPU box lacks (see scripts/lib/gpu_bundle.py): the binaries, the Open MPI
# runtime set up for one machine without single-copy transfers or a network, and every shared
# library that the box's own `pip install torch==<pinned>` does not bring. Run the archive there
# with `scripts/gpu-smoke.sh --bundle ARCHIVE`.
# Usage: scripts/gpu-bundle.sh [ARCHIVE]   (default: $BUILD_DIR/ringtrain-gpu-bundle.tar.gz)
# Environment: BUILD_DIR and the rest as for build.sh; RINGTRAIN_BUNDLE_NO_BUILD=1 packs what is built.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

archive=${1:-$BUILD_DIR/ringtrain-gpu-bundle.tar.gz}
python=$(ringtrain_python)
command -v patchelf >/dev/null || die "patchelf is missing; run scripts/setup.sh"
if [ "${RINGTRAIN_BUNDLE_NO_BUILD:-0}" != 1 ]; then
  BUILD_TARGET="ringtrain ringtrain_core ringtrain_unit_tests ringtrain_mpi_tests" \
    "$RINGTRAIN_ROOT/scripts/build.sh" -DRINGTRAIN_CUDA=ON
fi
"$python" "$RINGTRAIN_ROOT/scripts/lib/gpu_bundle.py" --build "$BUILD_DIR" --python "$python" \
  --output "$archive"
log "bundle: $archive ($(du -h "$archive" | cut -f1)); on the GPU box: scripts/gpu-smoke.sh --bundle $archive"
