#!/usr/bin/env bash
# Configures and builds ringtrain with CMake + Ninja. Extra arguments go to CMake, e.g.
#   scripts/build.sh -DRINGTRAIN_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug
# Environment: BUILD_DIR (default build/), BUILD_TARGET, CMAKE_BUILD_TYPE, CMAKE_PREFIX_PATH (another
# LibTorch), RINGTRAIN_PYTHON, RINGTRAIN_BUILD_TESTS=OFF.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

python=$(ringtrain_python)
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" -DRINGTRAIN_PYTHON="$python"
  -DRINGTRAIN_SAGEMAKER_SDK_PYTHON="$RINGTRAIN_SAGEMAKER_SDK_VENV/bin/python"
  -DRINGTRAIN_BUILD_TESTS="${RINGTRAIN_BUILD_TESTS:-ON}")
if command -v ccache >/dev/null; then
  # Paths relative to the checkout, so a fresh clone elsewhere reuses the cache.
  export CCACHE_BASEDIR="$RINGTRAIN_ROOT"
  export CCACHE_NOHASHDIR=1
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$RINGTRAIN_ROOT" -B "$BUILD_DIR" "${cmake_args[@]}" "$@"
# BUILD_TARGET=ringtrain builds just the executable (scripts/run.sh does); several targets are
# separated by spaces.
read -r -a targets <<<"${BUILD_TARGET:-}"
cmake --build "$BUILD_DIR" --parallel "${BUILD_JOBS:-$(nproc)}" ${targets[@]:+--target "${targets[@]}"}
log "built $BUILD_DIR/ringtrain"
