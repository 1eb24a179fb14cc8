#!/bin/sh
# The image's entrypoint: settles what the host decides (the NVIDIA driver's age, EFA), says what
# it found, and becomes `ringtrain sagemaker ARGS...` (exec: ringtrain is PID 1 and gets the
# container's signals). Sourced with RINGTRAIN_ENTRYPOINT_FUNCTIONS=1, it only defines the
# functions (tests run them against directories laid out like a host: $RINGTRAIN_ROOT).

RINGTRAIN_ROOT=${RINGTRAIN_ROOT:-}
RINGTRAIN_BIN=${RINGTRAIN_BIN:-/usr/local/bin/ringtrain}

ringtrain_log() {
  echo "ringtrain: $*"
}

# The kernel module's version (550.54.15), empty without an NVIDIA driver.
ringtrain_driver_version() {
  awk '/^NVRM version:/ { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+(\.[0-9]+)?$/) { print $i; exit } }' \
    "$RINGTRAIN_ROOT/proc/driver/nvidia/version" 2>/dev/null
}

# The version of the forward-compatibility driver library in DIR (libcuda.so.580.95.05), empty if
# there is none.
ringtrain_compat_version() {
  for library in "$1"/libcuda.so.*.*; do
    [ -f "$library" ] && echo "${library##*/libcuda.so.}"
  done | sort -V | tail -n 1
}

# Whether version A is older than version B.
ringtrain_older() {
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# CUDA forward compatibility: where the host's driver is older than the image's CUDA needs, the
# CUDA compat package's driver library (/usr/local/cuda/compat) goes first on the library path,
# if the GPUs accept it (data-center GPUs on a driver branch NVIDIA supports for it); ringtrain
# itself is asked, with that path. Prints what it decided; exports LD_LIBRARY_PATH when in use.
ringtrain_cuda_compat() {
  driver=$(ringtrain_driver_version)
  [ -n "$driver" ] || return 0  # no NVIDIA driver: a CPU host
  compat_dir=$RINGTRAIN_ROOT/usr/local/cuda/compat
  compat=$(ringtrain_compat_version "$compat_dir")
  if [ -z "$compat" ] || ! ringtrain_older "$driver" "$compat"; then
    ringtrain_log "NVIDIA driver $driver (CUDA forward compatibility not needed)"
    return 0
  fi
  path=$compat_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  if probe=$(LD_LIBRARY_PATH=$path "$RINGTRAIN_BIN" info --json 2>&1) &&
    ! echo "$probe" | grep -q '"gpu_problem"' && ! echo "$probe" | grep -q '"gpus": 0'; then
    export LD_LIBRARY_PATH="$path"
    ringtrain_log "NVIDIA driver $driver is older than this image's CUDA needs: using CUDA forward compatibility (driver library $compat from $compat_dir)"
  else
    ringtrain_log "WARNING: NVIDIA driver $driver is older than this image's CUDA needs, and CUDA forward compatibility ($compat) does not work on these GPUs: $(echo "$probe" | sed -n 's/.*"gpu_problem": *"\([^"]*\)".*/\1/p' | head -n 1)"
  fi
}

# EFA devices of this host (rdmap16s27 ...), one per line.
ringtrain_efa_devices() {
  for device in "$RINGTRAIN_ROOT"/sys/class/infiniband/*; do
    [ -e "$device/device/driver" ] || continue
    bound=$(readlink "$device/device/driver")
    [ "${bound##*/}" = efa ] && echo "${device##*/}"
  done
}

# The AWS OFI NCCL plugin the EFA installer put in, if any: the Debian package's, the variants the
# installer picks for NGC images, Amazon Linux's.
ringtrain_ofi_plugin() {
  for plugin in /opt/amazon/ofi-nccl/lib/libnccl-net-ofi.so /opt/amazon/ofi-nccl/lib64/libnccl-net-ofi.so \
    /opt/amazon/aws-ofi-nccl/lib/libnccl-net-ofi.so /opt/amazon/aws-ofi-nccl/lib/libnccl-net-aws-ofi.so \
    /opt/amazon/ofi-nccl/lib/libnccl-net.so; do
    if [ -f "$RINGTRAIN_ROOT$plugin" ]; then
      echo "$RINGTRAIN_ROOT$plugin"
      return 0
    fi
  done
  return 1
}

# Whether a library that others open by its unversioned name, libcudart.so, is in one of the
# directories the loader's cache is built from (ours, docker/install-runtime.sh).
ringtrain_cudart_by_name() {
  conf=$RINGTRAIN_ROOT/etc/ld.so.conf.d/ringtrain.conf
  [ -f "$conf" ] || return 1
  grep -v '^#' "$conf" | while read -r directory; do
    [ -e "$RINGTRAIN_ROOT$directory/libcudart.so" ] && echo found
  done | grep -q found
}

# Which network NCCL uses between hosts, said before any rank starts. On a host with EFA and the
# plugin, NCCL is told to load that plugin and to use its network only (NCCL_NET_PLUGIN, NCCL_NET,
# unless they are set already), so that a plugin that cannot start stops the job with NCCL's error
# instead of NCCL falling back to TCP sockets without a word; NCCL_NET=Socket in the job's
# environment chooses sockets.
ringtrain_nccl_network() {
  devices=$(ringtrain_efa_devices | tr '\n' ' ')
  devices=${devices% }
  if [ -z "$devices" ]; then
    ringtrain_log "NCCL network between hosts: TCP sockets (no EFA device)"
    return 0
  fi
  count=$(echo "$devices" | wc -w)
  plugin=$(ringtrain_ofi_plugin)
  if [ -z "$plugin" ]; then
    ringtrain_log "WARNING: NCCL network between hosts: TCP sockets, although this host has $count EFA devices ($devices): this image has no AWS OFI NCCL plugin (build it with --build-arg EFA_INSTALLER_VERSION=...)"
  elif ! ringtrain_cudart_by_name; then
    ringtrain_log "WARNING: NCCL network between hosts: TCP sockets, although this host has $count EFA devices: the plugin $plugin cannot open libcudart.so"
  else
    export NCCL_NET_PLUGIN="${NCCL_NET_PLUGIN:-$plugin}" NCCL_NET="${NCCL_NET:-AWS Libfabric}"
    ringtrain_log "NCCL network between hosts: EFA ($count devices: $devices) through $NCCL_NET_PLUGIN (NCCL_NET=$NCCL_NET)"
  fi
}

if [ "${RINGTRAIN_ENTRYPOINT_FUNCTIONS:-}" != 1 ]; then
  ringtrain_cuda_compat
  if [ -n "$(ringtrain_driver_version)" ]; then ringtrain_nccl_network; fi
  exec "$RINGTRAIN_BIN" sagemaker "$@"
fi
