#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test through CTest; then, unless arguments were
# given or RINGTRAIN_SANITIZE_TESTS=0, the unit tests and a short fuzzing run of every parser
# under ASan and UBSan (scripts/sanitize.sh). Extra arguments go to ctest, e.g.
# scripts/test.sh -R Sampler
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

"$RINGTRAIN_ROOT/scripts/setup.sh"
"$RINGTRAIN_ROOT/scripts/build.sh"
(cd "$BUILD_DIR" && ctest --output-on-failure --timeout 600 -j "${TEST_JOBS:-2}" "$@")
if [ $# -eq 0 ] && [ "${RINGTRAIN_SANITIZE_TESTS:-1}" != 0 ]; then
  "$RINGTRAIN_ROOT/scripts/sanitize.sh"
fi
