#!/bin/sh
# Installs ringtrain and every library it loads at run time under DEST, laid out as the image has
# them, so that the image needs no LD_LIBRARY_PATH for them:
#
#   DEST/usr/local/bin/ringtrain               run path $ORIGIN/../lib/ringtrain/{torch/lib,nvidia/*/lib}
#   DEST/usr/local/bin/ringtrain-entrypoint    docker/entrypoint.sh
#   DEST/usr/local/lib/ringtrain/torch/lib     LibTorch, as the torch wheel has it
#   DEST/usr/local/lib/ringtrain/nvidia/*/lib  CUDA, cuDNN, NCCL, NVSHMEM ... as the nvidia wheels have them
#   DEST/usr/local/lib/ringtrain/by-name       libcudart.so, a link to the wheel's libcudart.so.13, for
#                                              the AWS OFI NCCL plugin, which opens it by that name
#   DEST/etc/ld.so.conf.d/ringtrain.conf       by-name only, so that the loader's cache serves that
#                                              name and no wheel library shadows the system's
#
# The wheels' relative run paths ($ORIGIN/../../nvidia/nccl/lib from torch/lib) hold because the
# layout is theirs, so LibTorch and ringtrain load the same NCCL and the same CUDA runtime: the
# wheel's. Left out: Python's bindings, static libraries, and CUDA libraries nothing here loads.
#
# usage: install-runtime.sh SITE_PACKAGES BUILD_DIR DEST [--link]
#   --link  hard-links the libraries instead of copying them (tests; same file system only)
set -eu

if [ $# -lt 3 ]; then
  echo "usage: $0 SITE_PACKAGES BUILD_DIR DEST [--link]" >&2
  exit 2
fi
site=$1 build=$2 dest=$3
copy="cp -a"
if [ "${4:-}" = --link ]; then copy="cp -a --link"; fi
prefix=/usr/local/lib/ringtrain
lib=$dest$prefix

[ -d "$site/torch/lib" ] || { echo "install-runtime: no torch/lib in $site" >&2; exit 1; }
[ -x "$build/ringtrain" ] || { echo "install-runtime: no ringtrain in $build" >&2; exit 1; }
mkdir -p "$lib/torch/lib" "$dest/usr/local/bin" "$dest/etc/ld.so.conf.d"

# Whether a library file is left out: Python's, static, or loaded by nothing ringtrain runs
# (the BLAS and FFTW interposers, the multi-GPU solver, the alternative NVRTC, profiler back ends).
left_out() {
  case $1 in
    libtorch_python.so | libtorch_global_deps.so | libshm.so | *.a | *.bc) return 0 ;;
    libnvblas.so* | libcufftw.so* | libcusolverMg.so* | libnvrtc.alt.so* | libnvrtc-builtins.alt.so*) return 0 ;;
    libcheckpoint.so | libpcsamplingutil.so | libnvperf_host.so | libnvperf_target.so) return 0 ;;
  esac
  return 1
}

# Every shared object of a wheel's library directory: lib*.so* and NVSHMEM's plugins
# (nvshmem_bootstrap_*.so.3, nvshmem_transport_*.so.3), which it opens by name at run time.
install_directory() {
  from=$1 to=$2
  mkdir -p "$to"
  for file in "$from"/*.so*; do
    [ -e "$file" ] || continue
    if left_out "${file##*/}"; then continue; fi
    $copy "$file" "$to/"
  done
}

install_directory "$site/torch/lib" "$lib/torch/lib"
runpath="\$ORIGIN/../lib/ringtrain/torch/lib"
for directory in "$site"/nvidia/*/lib; do
  [ -d "$directory" ] || continue
  relative=${directory#"$site"/}
  install_directory "$directory" "$lib/$relative"
  runpath="$runpath:\$ORIGIN/../lib/ringtrain/$relative"
done

# The unversioned name of the CUDA runtime, which the AWS OFI NCCL plugin opens (without it NCCL
# falls back to TCP sockets on EFA, silently). It names the wheel's runtime, the one loaded already.
cudart=$(cd "$lib" && find nvidia -name 'libcudart.so.[0-9]*' | sort | head -n 1)
if [ -z "$cudart" ]; then
  echo "install-runtime: no libcudart.so.N under $site/nvidia: not a CUDA torch wheel" >&2
  exit 1
fi
mkdir -p "$lib/by-name"
ln -sf "../$cudart" "$lib/by-name/libcudart.so"
printf '%s\n' "# ringtrain: libraries opened by name (docker/install-runtime.sh)" "$prefix/by-name" \
  > "$dest/etc/ld.so.conf.d/ringtrain.conf"

cp "$(dirname "$0")/entrypoint.sh" "$dest/usr/local/bin/ringtrain-entrypoint"
cp "$build/ringtrain" "$dest/usr/local/bin/ringtrain"
patchelf --set-rpath "$runpath" "$dest/usr/local/bin/ringtrain"
# The gethostname() shim the ranks of multi-host jobs preload (RINGTRAIN_HOSTNAME_SHIM).
cp "$build/sagemaker/libsmhostname.so" "$lib/libsmhostname.so"
echo "install-runtime: ringtrain and $(find "$lib" -name '*.so*' | wc -l) libraries ($(du -sh "$lib" | cut -f1)) under $dest"
