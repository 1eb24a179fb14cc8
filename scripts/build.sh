#!/usr/bin/env bash
# Configures and builds ringtrain with CMake + Ninja. Extra arguments go to CMake, e.g.
#   scripts/build.sh -DRINGTRAIN_CUDA=OFF -DCMAKE_BUILD_TYPE=Debug
# Environment: BUILD_DIR (default build/), CMAKE_PREFIX_PATH (another LibTorch), RINGTRAIN_PYTHON.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

python=$(ringtrain_python)
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Release}" -DRINGTRAIN_PYTHON="$python")
if command -v ccache >/dev/null; then
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
  cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi
cmake -S "$RINGTRAIN_ROOT" -B "$BUILD_DIR" "${cmake_args[@]}" "$@"
cmake --build "$BUILD_DIR" --parallel "${BUILD_JOBS:-$(nproc)}"
log "built $BUILD_DIR/ringtrain"
