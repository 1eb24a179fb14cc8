# Warnings for our own targets only; third-party headers come in as SYSTEM includes.
add_library(ringtrain_warnings INTERFACE)
target_compile_options(ringtrain_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)
