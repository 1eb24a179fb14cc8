// Why GPUs that are there cannot be used. LibTorch counts no GPUs when the NVIDIA driver is older
// than its CUDA runtime, and only warns; ringtrain asks the runtime itself, so that `--device auto`
// says loudly that it falls back to the CPU and `--device cuda` names the driver as the cause.
#pragma once

#include <optional>
#include <string>

namespace ringtrain::platform {

// What the CUDA runtime answered when asked for its GPUs.
struct CudaProbe {
  enum class Outcome { kDevices, kNoDevice, kNoDriver, kDriverTooOld, kFailed, kNotCompiledIn };
  Outcome outcome = Outcome::kNotCompiledIn;
  int driverVersion = 0;   // the newest CUDA the driver supports, 1000 * major + 10 * minor
  int runtimeVersion = 0;  // the CUDA runtime's, the same way
  std::string error;       // the runtime's message, for kFailed
};

// "13.0" for 13000: a CUDA version as the runtime and the driver report it.
std::string cudaVersionText(int version);

// Asks the CUDA runtime (kNotCompiledIn in builds without CUDA).
CudaProbe probeCuda();

// Why GPUs are present but unusable; nullopt where there are none (no driver, no device) or they
// work. Pure, for tests.
std::optional<std::string> unusableGpuReason(const CudaProbe& probe);

}  // namespace ringtrain::platform
