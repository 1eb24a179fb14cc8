#!/bin/sh
# The image's entrypoint: settles what the host decides (the NVIDIA driver's age, EFA), says what
# it found (on standard error), and becomes `ringtrain sagemaker ARGS...` (exec: ringtrain is PID 1
# and gets the container's signals). Sourced with RINGTRAIN_ENTRYPOINT_FUNCTIONS=1, it only
# defines the functions: the Dockerfile checks the EFA plugin with them, and tests run them against
# directories laid out like a host ($RINGTRAIN_ROOT).

RINGTRAIN_ROOT=${RINGTRAIN_ROOT:-}
RINGTRAIN_BIN=${RINGTRAIN_BIN:-/usr/local/bin/ringtrain}

ringtrain_log() {
  printf 'ringtrain: %s\n' "$*" >&2
}

# The kernel module's version (550.54.15), empty without an NVIDIA driver.
ringtrain_driver_version() {
  awk '/^NVRM version:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+(\.[0-9]+)?$/) { print $i; exit } }' \
    "$RINGTRAIN_ROOT/proc/driver/nvidia/version" 2>/dev/null || true
}

# The version of the forward-compatibility driver library in DIR (libcuda.so.580.95.05), empty if
# there is none.
ringtrain_compat_version() {
  for library in "$1"/libcuda.so.*.*; do
    if [ -f "$library" ]; then echo "${library##*/libcuda.so.}"; fi
  done | sort -V | tail -n 1
}

# CUDA forward compatibility: where the host's driver is of an older branch than the image's
# forward-compatibility driver (/usr/local/cuda/compat; CUDA 13 needs R580 or newer), that driver
# goes first on the library path if the GPUs accept it (data-center GPUs, on a driver branch NVIDIA
# supports for it): ringtrain itself is asked, with that path. Says what it decided; exports
# LD_LIBRARY_PATH when in use. (The NVIDIA Container Toolkit may have done the same through the
# loader's cache already; `ringtrain info` tells either way.)
ringtrain_cuda_compat() {
  driver=$(ringtrain_driver_version)
  if [ -z "$driver" ]; then return 0; fi  # no NVIDIA driver: a CPU host
  compat_dir=$RINGTRAIN_ROOT/usr/local/cuda/compat
  compat=$(ringtrain_compat_version "$compat_dir")
  if [ -z "$compat" ]; then
    ringtrain_log "NVIDIA driver $driver (this image has no CUDA forward-compatibility driver)"
    return 0
  fi
  if [ "${driver%%.*}" -ge "${compat%%.*}" ]; then
    ringtrain_log "NVIDIA driver $driver (CUDA forward compatibility not needed)"
    return 0
  fi
  path=$compat_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  probe=$(LD_LIBRARY_PATH=$path "$RINGTRAIN_BIN" info --json 2>&1)
  if printf '%s\n' "$probe" | grep -q '"cuda_forward_compatibility": true' &&
    ! printf '%s\n' "$probe" | grep -q '"gpus": 0'; then
    export LD_LIBRARY_PATH="$path"
    ringtrain_log "NVIDIA driver $driver is older than this image's CUDA needs: using CUDA forward compatibility (driver library $compat from $compat_dir)"
  else
    reason=$(printf '%s\n' "$probe" | sed -n 's/.*"gpu_problem": *"\([^"]*\)".*/\1/p' | head -n 1)
    ringtrain_log "WARNING: NVIDIA driver $driver is older than this image's CUDA needs, and CUDA forward compatibility ($compat) does not work on these GPUs: ${reason:-ringtrain info found no usable GPU with it}"
  fi
}

# EFA devices of this host (rdmap16s27 ...), one per line.
ringtrain_efa_devices() {
  for device in "$RINGTRAIN_ROOT"/sys/class/infiniband/*; do
    if [ -e "$device/device/driver" ]; then
      bound=$(readlink "$device/device/driver")
      if [ "${bound##*/}" = efa ]; then echo "${device##*/}"; fi
    fi
  done
}

# The AWS OFI NCCL plugin the EFA installer put in, if any: libnccl-net-ofi.so (the Debian and
# Amazon Linux packages, and the variant for NGC images), libnccl-net-aws-ofi.so (an older NGC
# variant), libnccl-net.so (the Debian package's other name for it), wherever under /opt/amazon.
ringtrain_ofi_plugin() {
  for name in libnccl-net-ofi.so libnccl-net-aws-ofi.so libnccl-net.so; do
    found=$(find "$RINGTRAIN_ROOT/opt/amazon" -name "$name" \( -type f -o -type l \) 2>/dev/null | sort | head -n 1)
    if [ -n "$found" ]; then
      echo "$found"
      return 0
    fi
  done
  return 1
}

# Why PLUGIN cannot work here, or nothing: libraries it needs that the loader does not find, or no
# libcudart.so where the loader's cache is built from (/etc/ld.so.conf.d/ringtrain.conf).
ringtrain_ofi_plugin_problem() {
  if ! needs=$(ldd "$1" 2>&1); then
    echo "it is not a shared library the loader can read: $needs"
    return 0
  fi
  missing=$(printf '%s\n' "$needs" | awk '/not found/ { print $1 }' | tr '\n' ' ')
  if [ -n "$missing" ]; then
    echo "it needs ${missing% } which this image lacks"
    return 0
  fi
  conf=$RINGTRAIN_ROOT/etc/ld.so.conf.d/ringtrain.conf
  held=$(grep -v '^#' "$conf" 2>/dev/null | while read -r directory; do
    if [ -e "$RINGTRAIN_ROOT$directory/libcudart.so" ]; then echo "$directory"; fi
  done)
  if [ -z "$held" ]; then echo "it opens libcudart.so, which no directory in $conf holds"; fi
}

# For the image's build (EFA requested): fails, saying why, unless the plugin is there and can load.
ringtrain_check_ofi_plugin() {
  if ! plugin=$(ringtrain_ofi_plugin); then
    echo "ringtrain: the EFA installer put in no AWS OFI NCCL plugin under /opt/amazon: NCCL would use TCP sockets between hosts" >&2
    return 1
  fi
  problem=$(ringtrain_ofi_plugin_problem "$plugin")
  if [ -n "$problem" ]; then
    echo "ringtrain: the AWS OFI NCCL plugin $plugin cannot work: $problem" >&2
    return 1
  fi
  echo "ringtrain: AWS OFI NCCL plugin $plugin"
}

# EFA for NCCL between hosts: with EFA devices and a plugin that can load, RINGTRAIN_EFA_PLUGIN
# names it, and `ringtrain sagemaker` has NCCL use it, and only it, in jobs of several hosts
# (sagemaker/LaunchPlan.cpp). With EFA devices but no working plugin, a warning: NCCL would fall
# back to TCP sockets, which is otherwise silent.
ringtrain_efa() {
  devices=$(ringtrain_efa_devices | tr '\n' ' ')
  devices=${devices% }
  if [ -z "$devices" ]; then return 0; fi
  count=$(printf '%s\n' "$devices" | wc -w)
  if ! plugin=$(ringtrain_ofi_plugin); then
    ringtrain_log "WARNING: this host has $count EFA devices ($devices) but this image has no AWS OFI NCCL plugin (build it with --build-arg EFA_INSTALLER_VERSION=...): NCCL will use TCP sockets between hosts"
    return 0
  fi
  problem=$(ringtrain_ofi_plugin_problem "$plugin")
  if [ -n "$problem" ]; then
    ringtrain_log "WARNING: this host has $count EFA devices ($devices) but the AWS OFI NCCL plugin $plugin cannot work: $problem. NCCL will use TCP sockets between hosts"
    return 0
  fi
  export RINGTRAIN_EFA_PLUGIN="$plugin"
  ringtrain_log "EFA: $count devices ($devices), AWS OFI NCCL plugin $plugin"
}

if [ "${RINGTRAIN_ENTRYPOINT_FUNCTIONS:-}" != 1 ]; then
  ringtrain_cuda_compat
  if [ -n "$(ringtrain_driver_version)" ]; then ringtrain_efa; fi
  exec "$RINGTRAIN_BIN" sagemaker "$@"
fi
