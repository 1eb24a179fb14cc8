# Finds LibTorch, MPI, cxxopts, nlohmann-json and, when RINGTRAIN_CUDA allows it, CUDA and NCCL.

# GPU architectures: CMAKE_CUDA_ARCHITECTURES is the one list. By default the architectures the
# pinned torch wheel (cu130) ships code for, sm_75 (T4) to sm_120, with PTX for the newest so that
# later GPUs can compile it at load time. Set before anything enables CUDA, so that a user's
# -DCMAKE_CUDA_ARCHITECTURES (or CUDAARCHS in the environment, as CMake reads it) is kept and
# CMake's own guess (the compiler's oldest architecture) never applies.
set(RINGTRAIN_DEFAULT_CUDA_ARCHITECTURES "75-real;80-real;86-real;90-real;100-real;120")
set(_ringtrain_cuda_architectures_doc
  "GPU architectures to compile the CUDA kernels for (CMake syntax: 90-real, 90-virtual, 90)")
get_property(_cached_architectures_doc CACHE CMAKE_CUDA_ARCHITECTURES PROPERTY HELPSTRING)
if(_cached_architectures_doc STREQUAL "CUDA architectures")
  unset(CMAKE_CUDA_ARCHITECTURES CACHE)  # CMake's guess (or old CUDAARCHS), left by an earlier configure
endif()
if(DEFINED ENV{CUDAARCHS})
  set(CMAKE_CUDA_ARCHITECTURES "$ENV{CUDAARCHS}" CACHE STRING "${_ringtrain_cuda_architectures_doc}")
else()
  set(CMAKE_CUDA_ARCHITECTURES "${RINGTRAIN_DEFAULT_CUDA_ARCHITECTURES}" CACHE STRING
    "${_ringtrain_cuda_architectures_doc}")
endif()
# LibTorch's CMake is told as little as possible about architectures: it would turn
# CMAKE_CUDA_ARCHITECTURES off (warning that it ignores it), probe for GPUs when TORCH_CUDA_ARCH_LIST
# is unset, and add -gencode flags of its own to CMAKE_CUDA_FLAGS. So it loads without our list,
# quietly, with a list of its own whose flags are dropped afterwards.
macro(ringtrain_find_torch)
  set(_ringtrain_cuda_architectures "${CMAKE_CUDA_ARCHITECTURES}")
  unset(CMAKE_CUDA_ARCHITECTURES CACHE)
  set(TORCH_CUDA_ARCH_LIST "9.0")
  set(_ringtrain_log_level "${CMAKE_MESSAGE_LOG_LEVEL}")
  set(CMAKE_MESSAGE_LOG_LEVEL ERROR)
  find_package(Torch ${ARGN} CONFIG)
  set(CMAKE_MESSAGE_LOG_LEVEL "${_ringtrain_log_level}")
  set(CMAKE_CUDA_ARCHITECTURES "${_ringtrain_cuda_architectures}" CACHE STRING
    "${_ringtrain_cuda_architectures_doc}" FORCE)
  unset(CMAKE_CUDA_ARCHITECTURES)
  if(Torch_FOUND)
    string(REGEX REPLACE " -gencode arch=compute_[0-9a-z]+,code=[^ ]+" "" _torch_cuda_flags
      " ${CMAKE_CUDA_FLAGS}")
    string(STRIP "${_torch_cuda_flags}" CMAKE_CUDA_FLAGS)
  endif()
endmacro()

# LibTorch: an explicit CMAKE_PREFIX_PATH / Torch_DIR wins; otherwise ask the pinned PyPI wheel.
ringtrain_find_torch(QUIET)
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
  ringtrain_find_torch(REQUIRED)
endif()
# The wheel's CMake config lists the libraries but not all include dirs as SYSTEM; do it ourselves so
# -Wall stays about our code.
add_library(ringtrain_torch INTERFACE)
target_include_directories(ringtrain_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(ringtrain_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(ringtrain_torch INTERFACE ${TORCH_CXX_FLAGS})

find_package(MPI REQUIRED COMPONENTS C)
find_package(cxxopts REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)

# --- CUDA + NCCL -------------------------------------------------------------------------------
set(RINGTRAIN_WITH_CUDA OFF)
if(NOT RINGTRAIN_CUDA STREQUAL "OFF")
  set(_cuda_missing "")
  if(NOT CAFFE2_USE_CUDA)
    if(EXISTS "${TORCH_INSTALL_PREFIX}/lib/libtorch_cuda.so")
      list(APPEND _cuda_missing
        "a CUDA toolkit that LibTorch's CMake finds (LibTorch has CUDA: put nvcc on PATH or set CUDA_HOME)")
    else()
      list(APPEND _cuda_missing "a CUDA-enabled LibTorch (found a CPU-only one)")
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    list(APPEND _cuda_missing "nvcc")
  endif()
  # NCCL: $NCCL_HOME first, then the one the torch wheel brings and loads (site-packages/nvidia/
  # nccl, a library named only by its soname libnccl.so.2), then the CUDA toolkit's.
  get_filename_component(_torch_site_packages "${TORCH_INSTALL_PREFIX}" DIRECTORY)
  set(_nccl_roots $ENV{NCCL_HOME} ${_torch_site_packages}/nvidia/nccl ${CUDAToolkit_ROOT}
    /usr/local/cuda)
  list(TRANSFORM _nccl_roots APPEND /include OUTPUT_VARIABLE _nccl_include_hints)
  list(TRANSFORM _nccl_roots APPEND /lib OUTPUT_VARIABLE _nccl_library_hints)
  list(TRANSFORM _nccl_roots APPEND /lib64 OUTPUT_VARIABLE _nccl_library64_hints)
  # (Named apart from the NCCL_* entries of earlier versions, which searched the toolkit first.)
  find_path(RINGTRAIN_NCCL_INCLUDE_DIR nccl.h HINTS ${_nccl_include_hints})
  find_library(RINGTRAIN_NCCL_LIBRARY NAMES nccl libnccl.so.2 NAMES_PER_DIR
    HINTS ${_nccl_library_hints} ${_nccl_library64_hints})
  set(NCCL_INCLUDE_DIR "${RINGTRAIN_NCCL_INCLUDE_DIR}")
  set(NCCL_LIBRARY "${RINGTRAIN_NCCL_LIBRARY}")
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
message(STATUS "ringtrain: LibTorch ${Torch_VERSION}, MPI ${MPI_C_VERSION}, CUDA/NCCL backend: ${RINGTRAIN_WITH_CUDA}")
if(RINGTRAIN_WITH_CUDA)
  message(STATUS "ringtrain: GPU architectures ${CMAKE_CUDA_ARCHITECTURES}; NCCL ${NCCL_LIBRARY}")
endif()
