#!/usr/bin/env bash
# Builds the unit tests and the fuzz targets with clang, AddressSanitizer and
# UndefinedBehaviorSanitizer (in build-sanitize/), runs the unit tests, then each fuzz target for
# RINGTRAIN_FUZZ_SECONDS (default 20) over its corpus. Extra arguments go to ctest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

export BUILD_DIR=${SANITIZE_BUILD_DIR:-$RINGTRAIN_ROOT/build-sanitize}
source "$RINGTRAIN_ROOT/scripts/lib/sanitizer-env.sh"
BUILD_TARGET="ringtrain_unit_tests $(printf 'fuzz_%s ' "${RINGTRAIN_FUZZ_TARGETS[@]}")" \
  "$RINGTRAIN_ROOT/scripts/build.sh" -DRINGTRAIN_SANITIZE=ON -DRINGTRAIN_FUZZ=ON -DRINGTRAIN_CUDA=OFF -DRINGTRAIN_PCH=OFF \
  -DRINGTRAIN_FUZZ_SECONDS="${RINGTRAIN_FUZZ_SECONDS:-20}"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 -j "${TEST_JOBS:-2}" -L 'unit|fuzz' "$@"
