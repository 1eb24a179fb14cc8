# Sourced by sanitize.sh and fuzz.sh: the compiler and the sanitizers' runtime settings.
export CC=clang CXX=clang++
# These builds go without the precompiled header: clang's embeds the build directory, so ccache
# could not reuse it from one checkout to the next, and every file would compile afresh.
# LibTorch keeps some allocations until exit on purpose; leak reports would only be about those.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
RINGTRAIN_FUZZ_TARGETS=(csv idx safetensors manifest train_flags shard_header dataset_index npy_header)
