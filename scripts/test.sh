#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through CTest. Extra arguments go to ctest,
# e.g. scripts/test.sh -R Sampler
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
"$RINGTRAIN_ROOT/scripts/build.sh"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" "$@"
