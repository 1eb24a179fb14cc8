// Which NVIDIA driver and CUDA a process runs on: the kernel module's version, the driver library
// it loaded, and whether that library is CUDA's forward-compatibility one (a newer user-space
// driver on an older kernel module, which the container's entrypoint puts first on the library
// path when the host's driver is older than the image's CUDA needs). Said by `ringtrain info` and
// the training banner, so that a job's log shows what it ran on.
#pragma once

#include <string>

#include "platform/CudaProbe.h"

namespace ringtrain::platform {

struct CudaStack {
  std::string kernelModule;   // "550.54.15"; empty without an NVIDIA driver
  std::string driverLibrary;  // the libcuda.so file loaded, empty if none is
  int driverVersion = 0;      // the newest CUDA the loaded driver supports (CudaProbe's)
  int runtimeVersion = 0;     // the CUDA runtime's
};

// The kernel module's version in the text of /proc/driver/nvidia/version; empty if none.
std::string kernelModuleVersion(const std::string& procText);
// The path of the libcuda.so file mapped, in the text of /proc/self/maps; empty if none.
std::string mappedCudaDriverLibrary(const std::string& mapsText);
// Whether `stack` runs on the forward-compatibility driver: its library's version (the file is
// libcuda.so.VERSION) is not the kernel module's.
bool forwardCompatibility(const CudaStack& stack);
// "NVIDIA driver 550.54.15, CUDA 13.0 (runtime 13.0) through CUDA forward compatibility
// (/usr/local/cuda/compat/libcuda.so.580.95.05)"; "no NVIDIA driver" without one.
std::string describeCudaStack(const CudaStack& stack);

// This process's, after `probe` (which loads the driver library, if there is one).
CudaStack cudaStack(const CudaProbe& probe);

}  // namespace ringtrain::platform
