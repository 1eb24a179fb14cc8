#!/usr/bin/env bash
# Fuzzes the parsers: scripts/fuzz.sh [SECONDS] [TARGET...] runs each target (default: every target
# scripts/lib/sanitizer-env.sh lists) for SECONDS (default 300) with ASan and UBSan.
# The corpus grows in build-sanitize/fuzz/corpus/TARGET between runs; an input that crashes a
# target is written to build-sanitize/fuzz/findings/TARGET/. Fix the bug, then keep the input in
# tests/fuzz/corpus/TARGET/ so that every CI run replays it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

seconds=${1:-300}
shift || true
export BUILD_DIR=${SANITIZE_BUILD_DIR:-$RINGTRAIN_ROOT/build-sanitize}
source "$RINGTRAIN_ROOT/scripts/lib/sanitizer-env.sh"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${RINGTRAIN_FUZZ_TARGETS[@]}")
for target in "${targets[@]}"; do
  [[ " ${RINGTRAIN_FUZZ_TARGETS[*]} " == *" $target "* ]] ||
    die "no fuzz target '$target' (have: ${RINGTRAIN_FUZZ_TARGETS[*]})"
done

"$RINGTRAIN_ROOT/scripts/setup.sh"
BUILD_TARGET="$(printf 'fuzz_%s ' "${targets[@]}")" "$RINGTRAIN_ROOT/scripts/build.sh" \
  -DRINGTRAIN_SANITIZE=ON -DRINGTRAIN_FUZZ=ON -DRINGTRAIN_CUDA=OFF -DRINGTRAIN_PCH=OFF
failed=()
for target in "${targets[@]}"; do
  corpus=$BUILD_DIR/fuzz/corpus/$target
  findings=$BUILD_DIR/fuzz/findings/$target
  mkdir -p "$corpus" "$findings"
  log "fuzzing $target for ${seconds}s (corpus $corpus)"
  if ! "$BUILD_DIR/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$findings/" "$corpus" \
      "$RINGTRAIN_ROOT/tests/fuzz/corpus/$target"; then
    failed+=("$target")
  fi
done
[ ${#failed[@]} -eq 0 ] || die "fuzz targets failed: ${failed[*]} (inputs in $BUILD_DIR/fuzz/findings/)"
log "no findings in: ${targets[*]}"
