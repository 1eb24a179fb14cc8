# Finds LibTorch, MPI, cxxopts, nlohmann-json and, when RINGTRAIN_CUDA allows it, CUDA and NCCL.

# LibTorch: an explicit CMAKE_PREFIX_PATH / Torch_DIR wins; otherwise ask the pinned PyPI wheel.
find_package(Torch QUIET CONFIG)
if(NOT Torch_FOUND)
  execute_process(
    COMMAND ${RINGTRAIN_PYTHON} -c "import torch.utils; print(torch.utils.cmake_prefix_path)"
    OUTPUT_VARIABLE _torch_prefix OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _torch_query ERROR_QUIET)
  if(NOT _torch_query EQUAL 0)
    message(FATAL_ERROR
      "LibTorch not found. Run scripts/setup.sh (installs the pinned torch wheel), or point "
      "CMAKE_PREFIX_PATH at an unpacked LibTorch.")
  endif()
  list(APPEND CMAKE_PREFIX_PATH ${_torch_prefix})
  # LibTorch's CUDA config picks GPU architectures; CUDA 13 no longer knows the oldest ones.
  if(NOT DEFINED ENV{TORCH_CUDA_ARCH_LIST} AND NOT TORCH_CUDA_ARCH_LIST)
    set(TORCH_CUDA_ARCH_LIST "8.0;9.0" CACHE STRING "GPU architectures")
  endif()
  find_package(Torch REQUIRED CONFIG)
endif()
# The wheel's CMake config lists the libraries but not all include dirs as SYSTEM; do it ourselves so
# -Wall stays about our code.
add_library(ringtrain_torch INTERFACE)
target_include_directories(ringtrain_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(ringtrain_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(ringtrain_torch INTERFACE ${TORCH_CXX_FLAGS})

find_package(MPI REQUIRED COMPONENTS CXX)
find_package(cxxopts REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# --- CUDA + NCCL -------------------------------------------------------------------------------
set(RINGTRAIN_WITH_CUDA OFF)
if(NOT RINGTRAIN_CUDA STREQUAL "OFF")
  set(_cuda_missing "")
  if(NOT CAFFE2_USE_CUDA)
    list(APPEND _cuda_missing "a CUDA-enabled LibTorch (found a CPU-only one)")
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    list(APPEND _cuda_missing "nvcc")
  endif()
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS $ENV{NCCL_HOME}/include ${CUDAToolkit_INCLUDE_DIRS}
    /usr/local/cuda/include)
  find_library(NCCL_LIBRARY nccl HINTS $ENV{NCCL_HOME}/lib ${CUDAToolkit_LIBRARY_DIR}
    /usr/local/cuda/lib64)
  if(NOT NCCL_INCLUDE_DIR OR NOT NCCL_LIBRARY)
    list(APPEND _cuda_missing "NCCL (nccl.h and libnccl; set NCCL_HOME)")
  else()
    # ncclCommSplit, which the sub-communicators need, arrived in NCCL 2.18.
    file(STRINGS ${NCCL_INCLUDE_DIR}/nccl.h _nccl_version REGEX "^#define NCCL_(MAJOR|MINOR) ")
    string(REGEX REPLACE ".*NCCL_MAJOR ([0-9]+).*" "\\1" _nccl_major "${_nccl_version}")
    string(REGEX REPLACE ".*NCCL_MINOR ([0-9]+).*" "\\1" _nccl_minor "${_nccl_version}")
    if(_nccl_major LESS 2 OR (_nccl_major EQUAL 2 AND _nccl_minor LESS 18))
      list(APPEND _cuda_missing
        "NCCL 2.18 or newer (found ${_nccl_major}.${_nccl_minor} in ${NCCL_INCLUDE_DIR})")
    endif()
  endif()

  if(_cuda_missing STREQUAL "")
    set(RINGTRAIN_WITH_CUDA ON)
    if(NOT CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 80 90)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    add_library(ringtrain_nccl INTERFACE)
    target_include_directories(ringtrain_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(ringtrain_nccl INTERFACE ${NCCL_LIBRARY} CUDA::cudart)
  elseif(RINGTRAIN_CUDA STREQUAL "ON")
    string(REPLACE ";" ", " _cuda_missing "${_cuda_missing}")
    message(FATAL_ERROR "RINGTRAIN_CUDA=ON but missing: ${_cuda_missing}")
  else()
    string(REPLACE ";" ", " _cuda_missing "${_cuda_missing}")
    message(STATUS "ringtrain: CUDA backend off (missing: ${_cuda_missing})")
  endif()
endif()
message(STATUS "ringtrain: LibTorch ${Torch_VERSION}, MPI ${MPI_CXX_VERSION}, CUDA/NCCL backend: ${RINGTRAIN_WITH_CUDA}")
