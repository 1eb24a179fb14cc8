# RINGTRAIN_SANITIZE: AddressSanitizer and UndefinedBehaviorSanitizer on everything we compile.
# RINGTRAIN_FUZZ: libFuzzer coverage on everything we compile, and the fuzz targets (clang only).
# LibTorch and MPI stay uninstrumented; their allocations still go through ASan's allocator.
option(RINGTRAIN_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(RINGTRAIN_FUZZ "Build the libFuzzer targets (needs clang)" OFF)

if(RINGTRAIN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

if(RINGTRAIN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "RINGTRAIN_FUZZ needs clang (CXX=clang++), not ${CMAKE_CXX_COMPILER_ID}")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
