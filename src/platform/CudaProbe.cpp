#include "platform/CudaProbe.h"

namespace ringtrain::platform {

std::string cudaVersionText(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::optional<std::string> unusableGpuReason(const CudaProbe& probe) {
  switch (probe.outcome) {
    case CudaProbe::Outcome::kDriverTooOld:
      return "the NVIDIA driver supports CUDA up to " + cudaVersionText(probe.driverVersion) +
             " but this ringtrain runs CUDA " + cudaVersionText(probe.runtimeVersion) +
             ": update the driver (nvidia-smi shows the CUDA version it supports)";
    case CudaProbe::Outcome::kFailed:
      return "CUDA cannot use the GPUs: " + probe.error;
    case CudaProbe::Outcome::kDevices:
    case CudaProbe::Outcome::kNoDevice:
    case CudaProbe::Outcome::kNoDriver:
    case CudaProbe::Outcome::kNotCompiledIn:
      break;
  }
  return std::nullopt;
}

}  // namespace ringtrain::platform
